package report

import (
	"image"
	"image/color"
	"testing"
)

// Labels are drawn in the font, inside the box their length takes, and different text draws
// different ink: a label is readable, not a row of blocks.
func TestDrawTextInksItsBox(t *testing.T) {
	ink := func(s string) (*image.RGBA, int) {
		img := image.NewRGBA(image.Rect(0, 0, 200, 40))
		fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
		drawText(img, 10, 10, s, colorText)
		box := image.Rect(10, 10, 10+len(s)*charW, 10+lineH)
		n := 0
		for y := range 40 {
			for x := range 200 {
				if img.RGBAAt(x, y) == colorText {
					n++
					if !(image.Point{x, y}).In(box) {
						t.Errorf("%q inks (%d,%d), outside its box %v", s, x, y, box)
					}
				}
			}
		}
		return img, n
	}
	a, n := ink("CPU 12 us")
	if n < 30 {
		t.Fatalf("%q drew %d pixels", "CPU 12 us", n)
	}
	b, _ := ink("CPU 21 us")
	if string(a.Pix) == string(b.Pix) {
		t.Error("12 and 21 draw the same pixels")
	}
	mu, _ := ink("12 µs")
	us, _ := ink("12 us")
	if string(mu.Pix) != string(us.Pix) {
		t.Error("µs is not drawn as us")
	}
}
