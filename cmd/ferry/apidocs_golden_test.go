package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestQuickstartAPIDocsGolden runs bin/ferry serve with the quickstart
// config (testdata/ferry.yaml) and pins its /openapi.json and
// /asyncapi.json byte for byte. The only change made to what ferry serves
// is the embedded broker's address, which is a free port in the test and
// 127.0.0.1:9092 in the golden files. The golden files were written before
// ingress was split into sub-packages; the split changed no byte of them.
// go test ./cmd/ferry -run QuickstartAPIDocsGolden -update rewrites them.
func TestQuickstartAPIDocsGolden(t *testing.T) {
	p := startFerry(t, t.TempDir())
	for _, name := range []string{"openapi.json", "asyncapi.json"} {
		resp, err := http.Get("http://" + p.http + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /%s = %d %s (%v)", name, resp.StatusCode, got, err)
		}
		got = bytes.ReplaceAll(got, []byte(p.kafka), []byte("127.0.0.1:9092"))
		path := "../../ingress/apidocs/testdata/quickstart." + name
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("/%s differs from %s (-want +got):\n%s", name, path, diff)
		}
	}
	p.stop(t)
}
