package schemas

import (
	"errors"
	"strconv"
	"strings"
)

// Errors returned by Validate. Callers test them with errors.Is; the
// returned errors wrap them with detail.
var (
	// ErrUnknownSchema means the schema ID asked for is not in the Set.
	// With routes checked at start-up against Set.Has this is a
	// configuration bug, not a client error.
	ErrUnknownSchema = errors.New("unknown schema")

	// ErrNotJSON means the document is not a single valid JSON value
	// (RFC 8259). The wrapping error says where parsing failed.
	ErrNotJSON = errors.New("body is not valid JSON")
)

// Errors returned by Load, each wrapped in a message that starts with the
// offending file's path relative to the schema folder. Load joins them with
// errors.Join, so errors.Is finds every kind that occurred.
var (
	// ErrInvalidSchema means a file is not valid JSON, does not conform to
	// its JSON Schema meta-schema, or cannot be compiled.
	ErrInvalidSchema = errors.New("invalid schema")

	// ErrDuplicateID means two files declare the same $id.
	ErrDuplicateID = errors.New("duplicate $id")

	// ErrUnresolvedRef means a $ref points to a schema that is not in the
	// folder, or to a location that does not exist inside one. Schemas are
	// never fetched over the network.
	ErrUnresolvedRef = errors.New("unresolved $ref")
)

// ValidationError reports that a JSON document does not conform to a schema.
// It lists every violation found, not only the first.
type ValidationError struct {
	// SchemaID is the $id of the schema the document was checked against.
	SchemaID string

	// Violations holds every leaf violation, deduplicated and sorted by
	// InstancePath, then SchemaPath, then Message, so output is stable.
	// It is never empty.
	Violations []Violation
}

// Error returns a one-line summary naming the schema, the first violation,
// and how many more there are.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("document does not match schema ")
	b.WriteString(e.SchemaID)
	if len(e.Violations) == 0 {
		return b.String()
	}
	v := e.Violations[0]
	b.WriteString(": ")
	if v.InstancePath == "" {
		b.WriteString("(root)")
	} else {
		b.WriteString(v.InstancePath)
	}
	b.WriteString(": ")
	b.WriteString(v.Message)
	if n := len(e.Violations) - 1; n > 0 {
		b.WriteString(" (and ")
		b.WriteString(strconv.Itoa(n))
		if n == 1 {
			b.WriteString(" more violation)")
		} else {
			b.WriteString(" more violations)")
		}
	}
	return b.String()
}

// Violation is one way in which a document fails its schema. Its JSON form
// is what ingress puts in the "errors" member of a problem+json body.
type Violation struct {
	// InstancePath is a JSON Pointer (RFC 6901) to the offending value in
	// the document: "" for the document itself, "/items/0/sku" for a
	// nested value.
	InstancePath string `json:"instance_path"`

	// SchemaPath is the keyword location: the JSON Pointer path, through
	// the schema and any $ref it followed, to the keyword that failed, as
	// in "/properties/items/items/$ref/required". It is "" for limits that
	// ferry enforces itself (see Validate).
	SchemaPath string `json:"schema_path"`

	// Keyword is the JSON Schema keyword that failed, such as "required",
	// "minimum" or "format". Where a false schema forbids a value it is the
	// keyword holding that schema ("properties" for "/properties/a"), or
	// "false" if the whole schema is false. It is "" where SchemaPath is "".
	Keyword string `json:"keyword"`

	// Message says what is wrong, in English, for people.
	Message string `json:"message"`
}
