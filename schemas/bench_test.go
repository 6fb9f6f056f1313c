package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

const benchID = "https://example.com/schemas/order.json"

// benchBodies returns valid order bodies by size: the quickstart payload,
// then generated orders with more items.
func benchBodies(tb testing.TB) [][]byte {
	bodies := [][]byte{readTestFile(tb, "../testdata/payloads/order.json")}
	for _, n := range []int{64, 512} {
		var b bytes.Buffer
		b.WriteString(`{"customer_id": "c-42", "email": "ada@example.com", "placed_at": "2025-03-14T09:26:53Z", "items": [`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `{"sku": "SKU-%05d", "qty": %d, "price": %d.99}`, i, i%9+1, i%50)
		}
		b.WriteString("]}")
		bodies = append(bodies, b.Bytes())
	}
	return bodies
}

// BenchmarkValidate measures Set.Validate on valid orders, the hot path of
// every POST /v1/orders. body=962B is the quickstart payload.
//
// Run: go test -run=^$ -bench=BenchmarkValidate -benchmem ./schemas/
func BenchmarkValidate(b *testing.B) {
	set := loadQuickstart(b)
	for _, body := range benchBodies(b) {
		b.Run(fmt.Sprintf("body=%dB", len(body)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := set.Validate(benchID, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidateInvalid measures the error path: collecting, sorting and
// deduplicating violations for the quickstart's invalid payload.
//
// Run: go test -run=^$ -bench=BenchmarkValidateInvalid -benchmem ./schemas/
func BenchmarkValidateInvalid(b *testing.B) {
	set := loadQuickstart(b)
	body := readTestFile(b, "../testdata/payloads/order-invalid.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := set.Validate(benchID, body); err == nil {
			b.Fatal("Validate = nil, want violations")
		}
	}
}

// BenchmarkDecode compares ferry's decoder with encoding/json (UseNumber),
// which it replaces on the hot path, and shows the share of Validate spent
// decoding.
//
// Run: go test -run=^$ -bench=BenchmarkDecode -benchmem ./schemas/
func BenchmarkDecode(b *testing.B) {
	for _, body := range benchBodies(b) {
		b.Run(fmt.Sprintf("decoder=ferry/body=%dB", len(body)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decoder=encoding-json/body=%dB", len(body)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				d := json.NewDecoder(bytes.NewReader(body))
				d.UseNumber()
				var v any
				if err := d.Decode(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad measures loading and compiling the quickstart folder, done
// once at start-up.
//
// Run: go test -run=^$ -bench=BenchmarkLoad -benchmem ./schemas/
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		loadQuickstart(b)
	}
}
