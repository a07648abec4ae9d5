package motoserver

import (
	"net/http"
	"testing"
)

func TestForTestStartsAndStops(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		s := ForTest(t)
		url = s.URL
		resp, err := http.Get(s.URL + "/moto-api/")
		if err != nil {
			t.Fatalf("moto_server does not answer: %v", err)
		}
		resp.Body.Close()
	})
	if url == "" {
		t.Skip("moto_server not installed")
	}
	if resp, err := http.Get(url + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Fatalf("moto_server still answers on %s after the test ended", url)
	}
}
