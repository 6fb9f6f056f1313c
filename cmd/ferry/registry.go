package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// registryTimeout bounds fetching the subjects of a config.
const registryTimeout = 10 * time.Second

// fetchSubjects fetches the latest schema of every subject the routes
// name (schema_subject) from schemas.registry, with franz-go's Schema
// Registry client, and points each route at it: its schema is the
// fetched document's $id and RegistryID the schema's id, so that ingress
// validates against it and writes the Confluent wire format. It returns
// the documents for schemas.LoadWith. An Avro subject's schema goes to
// the route as is (topics.AvroCodec). JSON Schema and Avro subjects are
// supported; Protobuf and references to other subjects are not.
func fetchSubjects(routes []topics.RouteConfig, reg schemas.RegistryConfig) ([]schemas.Doc, []error) {
	var named []int
	for i, r := range routes {
		if r.SchemaSubject != "" {
			named = append(named, i)
		}
	}
	if len(named) == 0 {
		return nil, nil
	}
	if reg.URL == "" {
		return nil, []error{fmt.Errorf("routes[%d].schema_subject: needs schemas.registry.url", named[0])}
	}
	cl, err := sr.NewClient(sr.URLs(reg.URL))
	if err != nil {
		return nil, []error{fmt.Errorf("schemas.registry.url: %w", err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	bySubject := make(map[string]subjectSchema)
	var docs []schemas.Doc
	var errs []error
	for _, i := range named {
		subject := routes[i].SchemaSubject
		f, ok := bySubject[subject]
		if !ok {
			f = fetchSubject(ctx, cl, reg.URL, subject)
			bySubject[subject] = f
			if f.err == nil && f.avro == "" {
				docs = append(docs, f.doc)
			}
		}
		if f.err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].schema_subject: %w", i, f.err))
			continue
		}
		if routes[i].Schema != "" {
			continue // both set: topics.NewTable says so
		}
		if f.avro != "" {
			routes[i].AvroSchema, routes[i].RegistryID = f.avro, f.id
			continue
		}
		routes[i].Schema, routes[i].RegistryID = schemas.DocID(f.doc), f.id
	}
	return docs, errs
}

// subjectSchema is a subject's latest schema, or why it cannot be used.
type subjectSchema struct {
	doc  schemas.Doc
	avro string // the schema, when it is Avro
	id   int
	err  error
}

// fetchSubject reads the latest version of subject.
func fetchSubject(ctx context.Context, cl *sr.Client, base, subject string) (f subjectSchema) {
	ss, err := cl.SchemaByVersion(ctx, subject, -1)
	switch {
	case err != nil:
		var re *sr.ResponseError
		if errors.As(err, &re) && re.ErrorCode == 40401 {
			f.err = fmt.Errorf("subject %q not found in %s", subject, base)
		} else {
			f.err = fmt.Errorf("fetching subject %q from %s: %w", subject, base, err)
		}
	case ss.Type != sr.TypeJSON && ss.Type != sr.TypeAvro:
		f.err = fmt.Errorf("subject %q holds a schema of type %s; ferry writes JSON Schema and Avro subjects only", subject, ss.Type)
	case len(ss.References) > 0:
		f.err = fmt.Errorf("subject %q references other subjects, which ferry does not fetch", subject)
	case ss.Type == sr.TypeAvro:
		f.avro, f.id = ss.Schema.Schema, ss.ID
	default:
		url := strings.TrimRight(base, "/") + "/subjects/" + subject + "/versions/" + fmt.Sprint(ss.Version)
		f.doc, f.id = schemas.Doc{URL: url, Raw: []byte(ss.Schema.Schema)}, ss.ID
	}
	return f
}
