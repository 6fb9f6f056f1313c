package topics

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/hamba/avro/v2"
)

// AvroCodec encodes JSON bodies as Avro records of a Schema Registry
// schema (a route's schema_subject holding an Avro schema), as Confluent
// REST Proxy v2's Avro endpoints do: the body is the record in Avro's
// JSON encoding (a union value other than null is {"type name": value};
// bytes are a string of code points 0-255), and the record's value is the
// Avro binary encoding in the Confluent wire format.
type AvroCodec struct {
	schema avro.Schema
	id     int32
}

// NewAvroCodec parses the Avro schema text of the registry schema id.
func NewAvroCodec(schema string, id int32) (*AvroCodec, error) {
	s, err := avro.Parse(schema)
	if err != nil {
		return nil, fmt.Errorf("avro schema: %w", err)
	}
	return &AvroCodec{schema: s, id: id}, nil
}

// Encode turns a JSON body into the record's value: the Confluent wire
// format header, then the Avro binary encoding. An error names the first
// place (a JSON pointer) where the body does not fit the schema.
func (c *AvroCodec) Encode(body []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	native, err := fromAvroJSON(c.schema, v, "")
	if err != nil {
		return nil, err
	}
	b, err := avro.Marshal(c.schema, native)
	if err != nil {
		return nil, fmt.Errorf("avro: %w", err)
	}
	return ConfluentValue(c.id, b), nil
}

// fromAvroJSON converts v, decoded from Avro's JSON encoding of schema s,
// to the Go values hamba/avro marshals; at is the JSON pointer of v.
func fromAvroJSON(s avro.Schema, v any, at string) (any, error) {
	bad := func(want string) error {
		return fmt.Errorf("%s: want %s, not a %s", cmp.Or(at, "/"), want, avroJSONKind(v))
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return fromAvroJSON(s.Schema(), v, at)
	case *avro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad("an object (record " + s.FullName() + ")")
		}
		out := make(map[string]any, len(s.Fields()))
		for _, f := range s.Fields() {
			fv, ok := m[f.Name()]
			switch {
			case !ok && f.HasDefault():
				out[f.Name()] = f.Default()
				continue
			case !ok:
				return nil, fmt.Errorf("%s/%s: required (no default)", at, f.Name())
			}
			nv, err := fromAvroJSON(f.Type(), fv, at+"/"+f.Name())
			if err != nil {
				return nil, err
			}
			out[f.Name()] = nv
		}
		for k := range m {
			if !slices.ContainsFunc(s.Fields(), func(f *avro.Field) bool { return f.Name() == k }) {
				return nil, fmt.Errorf("%s/%s: not a field of %s", at, k, s.FullName())
			}
		}
		return out, nil
	case *avro.ArraySchema:
		a, ok := v.([]any)
		if !ok {
			return nil, bad("an array")
		}
		out := make([]any, len(a))
		for i, e := range a {
			nv, err := fromAvroJSON(s.Items(), e, at+"/"+strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			out[i] = nv
		}
		return out, nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad("an object (map)")
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			nv, err := fromAvroJSON(s.Values(), e, at+"/"+k)
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
		return out, nil
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok || !slices.Contains(s.Symbols(), str) {
			return nil, bad(fmt.Sprintf("one of %v", s.Symbols()))
		}
		return str, nil
	case *avro.UnionSchema:
		if v == nil {
			if !s.Nullable() {
				return nil, bad("a value (the union has no null)")
			}
			return map[string]any(nil), nil
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, bad(`{"type name": value} (Avro's JSON encoding of a union)`)
		}
		for name, e := range m {
			for _, t := range s.Types() {
				if unionName(t) == name {
					nv, err := fromAvroJSON(t, e, at+"/"+name)
					if err != nil {
						return nil, err
					}
					return map[string]any{name: nv}, nil
				}
			}
			return nil, fmt.Errorf("%s: %q is not a type of the union", cmp.Or(at, "/"), name)
		}
	case *avro.PrimitiveSchema:
		return fromPrimitive(s.Type(), v, bad)
	}
	return nil, fmt.Errorf("%s: the schema type %s is not supported", cmp.Or(at, "/"), s.Type())
}

// fromPrimitive converts a JSON value to the Go value of a primitive type.
func fromPrimitive(t avro.Type, v any, bad func(string) error) (any, error) {
	switch t {
	case avro.Null:
		if v != nil {
			return nil, bad("null")
		}
		return nil, nil
	case avro.Boolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, bad("a boolean")
	case avro.String:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, bad("a string")
	case avro.Bytes:
		s, ok := v.(string)
		if !ok {
			return nil, bad("a string of bytes")
		}
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return nil, bad("a string of code points 0-255 (Avro's JSON bytes)")
			}
			out = append(out, byte(r))
		}
		return out, nil
	case avro.Int, avro.Long:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad("an integer")
		}
		i, err := n.Int64()
		if err != nil || (t == avro.Int && (i < math.MinInt32 || i > math.MaxInt32)) {
			return nil, bad("an integer in range for " + string(t))
		}
		if t == avro.Int {
			return int(i), nil
		}
		return i, nil
	case avro.Float, avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad("a number")
		}
		f, err := n.Float64()
		if err != nil {
			return nil, bad("a number")
		}
		if t == avro.Float {
			return float32(f), nil
		}
		return f, nil
	}
	return nil, bad("a supported type (" + string(t) + " is not)")
}

// unionName is the name a union member goes by in Avro's JSON encoding:
// the full name of a named type, else the type.
func unionName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// avroJSONKind names the JSON type of a decoded value.
func avroJSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	}
	return jsonKind(v)
}
