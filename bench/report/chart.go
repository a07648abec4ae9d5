package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Bar is one horizontal bar of a chart panel.
type Bar struct {
	Label string
	Value float64
	Text  string // printed after the bar; the value when empty
	Color color.RGBA
}

// Panel is a titled group of bars on one scale, with an optional goal line.
type Panel struct {
	Title string
	Bars  []Bar
	Goal  float64 // 0: none
}

// Colours of the chart.
var (
	ColorDesign   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	ColorBaseline = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	ColorMet      = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	ColorNotMet   = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	colorText     = color.RGBA{0x22, 0x22, 0x22, 0xff}
	colorGoal     = color.RGBA{0x00, 0x00, 0x00, 0xff}
	colorGrid     = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// face is the labels' font: X11's fixed 7×13, ASCII only.
var face = basicfont.Face7x13

const (
	charW     = 7  // face's advance
	lineH     = 13 // face's height
	margin    = 16
	labelW    = 30 * charW
	barAreaW  = 520
	valueW    = 22 * charW
	barH      = 20
	barGap    = 6
	chartW    = margin*2 + labelW + barAreaW + valueW
	titleGapH = lineH + 8
)

// DrawChart draws the panels one under another as a PNG.
func DrawChart(w io.Writer, panels []Panel) error {
	h := margin
	for _, p := range panels {
		h += titleGapH + len(p.Bars)*(barH+barGap) + margin
	}
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	y := margin
	for _, p := range panels {
		drawText(img, margin, y, p.Title, colorText)
		y += titleGapH
		top := y
		maxV := p.Goal * 1.1
		for _, b := range p.Bars {
			maxV = max(maxV, b.Value)
		}
		if maxV <= 0 {
			maxV = 1
		}
		x0 := margin + labelW
		for _, b := range p.Bars {
			drawText(img, margin, y+(barH-lineH)/2, b.Label, colorText)
			bw := int(b.Value / maxV * barAreaW)
			if b.Value > 0 && bw < 1 {
				bw = 1
			}
			fill(img, image.Rect(x0, y, x0+bw, y+barH), b.Color)
			text := b.Text
			if text == "" {
				text = fmt.Sprintf("%.4g", b.Value)
			}
			drawText(img, x0+bw+6, y+(barH-lineH)/2, text, colorText)
			y += barH + barGap
		}
		fill(img, image.Rect(x0-1, top-2, x0, y), colorGrid)
		if p.Goal > 0 {
			gx := x0 + int(p.Goal/maxV*barAreaW)
			for yy := top - 4; yy < y; yy += 6 {
				fill(img, image.Rect(gx, yy, gx+2, yy+4), colorGoal)
			}
		}
		y += margin
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// drawText draws s with its top left at (x, y). The face has ASCII only: µ (in µs) is written u.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y+face.Ascent)}
	d.DrawString(strings.ReplaceAll(s, "µ", "u"))
}
