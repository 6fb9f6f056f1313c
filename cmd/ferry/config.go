package main

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
	"github.com/ferry-gw/ferry/consumers/webhook"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/console"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// Config is the whole ferry.yaml. Each section belongs to the package that
// uses it; this file only composes them, expands ${ENV} references and
// reports every problem with its field path.
type Config struct {
	// Listen is the HTTP listen address; default ":8080".
	Listen string `yaml:"listen"`
	// TLS serves HTTPS (and optionally mutual TLS) on Listen; nil (the
	// default) serves plain HTTP.
	TLS *TLSConfig `yaml:"tls"`
	// Server holds HTTP timeouts and shutdown settings.
	Server ingress.Config `yaml:"server"`
	// Log chooses the log level and format.
	Log LogConfig `yaml:"log"`
	// Kafka configures brokers (or the embedded broker) and producing.
	Kafka topics.Config `yaml:"kafka"`
	// Redis configures the Redis used for rate limits and results.
	Redis RedisConfig `yaml:"redis"`
	// Auth configures credentials.
	Auth ingress.AuthConfig `yaml:"auth"`
	// Schemas names the folder of JSON Schemas.
	Schemas schemas.Config `yaml:"schemas"`
	// Routes are the HTTP routes that publish to Kafka.
	Routes []topics.RouteConfig `yaml:"routes"`
	// Streams are SSE subscriptions to topics.
	Streams []topics.StreamConfig `yaml:"streams"`
	// Hub configures the stream hub behind /v1/streams.
	Hub consumers.HubConfig `yaml:"hub"`
	// Replay configures the debugging replay API.
	Replay consumers.ReplayConfig `yaml:"replay"`
	// Telemetry turns /metrics and tracing on or off.
	Telemetry TelemetryConfig `yaml:"telemetry"`
	// Correlator configures request/response: pending caps, result TTL,
	// reply topic layout, reply header allowlist.
	Correlator correlator.Config `yaml:"correlator"`
	// Webhooks push the records of topics to HTTP endpoints.
	Webhooks []webhook.Config `yaml:"webhooks"`
	// Groups let HTTP clients consume topics in Kafka consumer groups
	// (/v1/groups), through any instance.
	Groups group.Config `yaml:"groups"`
	// Console serves the web console at /console; off by default.
	Console console.Config `yaml:"console"`

	// dir is the folder of the config file; relative paths resolve there.
	dir string
}

// LogConfig is the `log` section.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
	// KafkaLevel is the level of the Kafka client's own lines (franz-go):
	// debug, info, warn (the default: its info lines come by the dozen
	// at start and at every rebalance), error or none. Lines below
	// Level are dropped anyway.
	KafkaLevel string `yaml:"kafka_level"`
	// FlushInterval is how long an access log line may wait in memory
	// before it is written, gathered with others into one write; default
	// 100ms; a negative value writes each line at once. Other lines are
	// written at once.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// errNoConfigFile is loadConfig's error for a config file that does not
// exist.
var errNoConfigFile = errors.New("does not exist")

// loaded is a validated config with its compiled parts.
type loaded struct {
	Config
	table   *topics.Table
	schemas *schemas.Set
	// warnings are what is valid but probably not meant (overlapping
	// routes), each starting with its field path.
	warnings []string
	// path is the file it was read from (empty when it was not);
	// hash is the SHA-256 of its bytes, loadedAt when they were read:
	// /readyz shows both, and SIGHUP reads path again (reload.go).
	path, hash string
	loadedAt   time.Time
}

// loadConfig reads, expands, decodes and validates a config file. Its error
// lists every problem, one per line, each starting with its field path.
func loadConfig(path string) (*loaded, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s %w", path, errNoConfigFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var cfg Config
	err = decodeStrict(raw, &cfg)
	var keys *keyErrors
	if err != nil && !errors.As(err, &keys) {
		return nil, err
	}
	cfg.dir = filepath.Dir(path)
	l, cerr := cfg.compile()
	if keys != nil {
		// Every problem at once: the keys' and the values' below them.
		return nil, keys.with(cerr)
	}
	if cerr != nil {
		return nil, cerr
	}
	sum := sha256.Sum256(raw)
	l.path, l.hash, l.loadedAt = path, hex.EncodeToString(sum[:]), time.Now()
	return l, nil
}

// compile applies defaults and validates every section, collecting every
// problem before returning.
func (cfg Config) compile() (*loaded, error) {
	var errs []error
	if cfg.Listen == "" {
		cfg.Listen = ":8080"
	}
	switch strings.ToLower(cfg.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: must be debug, info, warn or error, not %q", cfg.Log.Level))
	}
	switch cfg.Log.Format {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format: must be json or text, not %q", cfg.Log.Format))
	}
	switch strings.ToLower(cfg.Log.KafkaLevel) {
	case "", "debug", "info", "warn", "error", "none":
	default:
		errs = append(errs, fmt.Errorf("log.kafka_level: must be debug, info, warn, error or none, not %q", cfg.Log.KafkaLevel))
	}
	errs = append(errs, prefixed("redis", cfg.Redis.Validate())...)
	cfg.Server = cfg.Server.WithDefaults()
	errs = append(errs, prefixed("server", cfg.Server.Validate())...)
	cfg.Kafka = cfg.Kafka.WithDefaults()
	if t := cfg.Kafka.TLS; t != nil {
		resolved := *t
		resolved.CAFile, resolved.CertFile, resolved.KeyFile = cfg.resolve(t.CAFile), cfg.resolve(t.CertFile), cfg.resolve(t.KeyFile)
		cfg.Kafka.TLS = &resolved
	}
	errs = append(errs, prefixed("kafka", cfg.Kafka.Validate())...)
	if cfg.Auth.JWT != nil {
		j := *cfg.Auth.JWT
		j.Keys = append([]identity.JWTKeyConfig(nil), j.Keys...)
		for i := range j.Keys {
			j.Keys[i].File = cfg.resolve(j.Keys[i].File)
		}
		cfg.Auth.JWT = &j
	}
	if in := cfg.Auth.Introspection; in != nil && in.ClientSecretFile != "" {
		ic := *in
		ic.ClientSecretFile = cfg.resolve(ic.ClientSecretFile)
		cfg.Auth.Introspection = &ic
	}
	if err := cfg.Auth.Validate(); err != nil {
		errs = append(errs, prefixed("auth", err)...)
	} else {
		errs = append(errs, prefixed("auth", cfg.Auth.Check())...)
	}
	errs = append(errs, prefixed("", topics.ValidateStreams(cfg.Streams))...)
	cfg.Hub = cfg.Hub.WithDefaults()
	errs = append(errs, prefixed("hub", cfg.Hub.Validate())...)
	cfg.Replay = cfg.Replay.WithDefaults()
	errs = append(errs, prefixed("replay", cfg.Replay.Validate())...)
	cfg.Correlator = cfg.Correlator.WithDefaults()
	errs = append(errs, prefixed("correlator", cfg.Correlator.Validate())...)
	cfg.Webhooks = append([]webhook.Config(nil), cfg.Webhooks...)
	for i := range cfg.Webhooks {
		cfg.Webhooks[i] = cfg.Webhooks[i].WithDefaults()
		cfg.Webhooks[i].SecretFile = cfg.resolve(cfg.Webhooks[i].SecretFile)
	}
	errs = append(errs, prefixed("", webhook.Validate(cfg.Webhooks))...)
	errs = append(errs, prefixed("", group.Validate(cfg.Groups))...)
	cfg.Groups = cfg.Groups.WithDefaults()
	if cfg.Kafka.Embedded.DataDir != "" {
		cfg.Kafka.Embedded.DataDir = cfg.resolve(cfg.Kafka.Embedded.DataDir)
	}
	if cfg.TLS != nil {
		t := cfg.TLS.resolved(cfg.resolve)
		cfg.TLS = &t
		if _, err := t.build(); err != nil {
			errs = append(errs, prefixed("", err)...)
		}
	}
	if cfg.Schemas.Dir == "" {
		cfg.Schemas.Dir = schemas.DefaultDir
	}
	cfg.Schemas.Dir = cfg.resolve(cfg.Schemas.Dir)

	// Subjects of the Schema Registry first: they fill in the routes'
	// schema and registry id.
	docs, regErrs := fetchSubjects(cfg.Routes, cfg.Schemas.Registry)
	errs = append(errs, regErrs...)
	table, err := topics.NewTable(cfg.Routes)
	errs = append(errs, prefixed("", err)...)

	// Schemas load only when some route names one, or the folder exists.
	set := &schemas.Set{}
	needSchemas := false
	for _, r := range cfg.Routes {
		needSchemas = needSchemas || r.Schema != "" || (r.Reply != nil && r.Reply.Schema != "") ||
			(r.Body != nil && r.Body.RecordSchema != "")
	}
	if _, statErr := os.Stat(cfg.Schemas.Dir); statErr == nil || needSchemas {
		dir := cfg.Schemas.Dir
		if statErr != nil && len(docs) > 0 && !folderNeeded(cfg.Routes) {
			dir = "" // the registry's schemas alone
		}
		if set, err = schemas.LoadWith(dir, docs...); err != nil {
			errs = append(errs, schemaErrors(cfg.Schemas.Dir, err)...)
			set = &schemas.Set{}
		}
	}
	authOn := cfg.Auth.Configured()
	for i, r := range cfg.Routes {
		if r.Schema != "" && len(set.IDs()) > 0 && !set.Has(r.Schema) {
			errs = append(errs, fmt.Errorf("routes[%d].schema: no schema in %s has $id %q", i, cfg.Schemas.Dir, r.Schema))
		}
		if r.Reply != nil && r.Reply.Schema != "" && len(set.IDs()) > 0 && !set.Has(r.Reply.Schema) {
			errs = append(errs, fmt.Errorf("routes[%d].reply.schema: no schema in %s has $id %q", i, cfg.Schemas.Dir, r.Reply.Schema))
		}
		if r.Body != nil && r.Body.RecordSchema != "" && !set.Has(r.Body.RecordSchema) {
			errs = append(errs, fmt.Errorf("routes[%d].body.record_schema: no schema in %s has $id %q", i, cfg.Schemas.Dir, r.Body.RecordSchema))
		}
		if (r.Auth == "" || r.Auth == topics.AuthRequired) && !authOn {
			errs = append(errs, fmt.Errorf("routes[%d].auth: the route requires credentials but auth has no jwt or api_keys; configure auth or set auth: none", i))
		}
	}
	for i, st := range cfg.Streams {
		if (st.Auth == "" || st.Auth == topics.AuthRequired) && !authOn {
			errs = append(errs, fmt.Errorf("streams[%d].auth: the stream requires credentials but auth has no jwt or api_keys; configure auth or set auth: none", i))
		}
		if st.Match != nil && st.Auth == topics.AuthNone {
			errs = append(errs, fmt.Errorf("streams[%d].match: the claim comes from the credentials, so the stream needs auth: required", i))
		}
	}
	if len(cfg.Replay.Topics) > 0 && !authOn {
		errs = append(errs, errors.New("replay.topics: replay always requires credentials but auth has no jwt or api_keys"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	warnings := table.Overlaps()
	grace := cmp.Or(cfg.Server.GracePeriod, ingress.DefaultGracePeriod)
	for i, r := range table.Routes() {
		if r.Reply != nil && r.Reply.MaxWait > grace {
			warnings = append(warnings, fmt.Sprintf("routes[%d].reply.max_wait: %s is longer than server.grace_period (%s): at shutdown its waiting requests are answered early (202 + Location, or the route's timeout answer)",
				i, r.Reply.MaxWait, grace))
		}
	}
	return &loaded{Config: cfg, table: table, schemas: set, warnings: warnings}, nil
}

// resolve makes a relative path relative to the config file's folder.
func (cfg Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(cfg.dir, p)
}

// prefixed splits a joined error into its parts and prefixes each with the
// section's field path.
func prefixed(section string, err error) []error {
	if err == nil {
		return nil
	}
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			parts = append(parts, prefixed("", e)...)
		}
	} else {
		parts = []error{err}
	}
	if section == "" {
		return parts
	}
	for i, e := range parts {
		parts[i] = fmt.Errorf("%s.%w", section, e)
	}
	return parts
}

// decodeStrict decodes YAML into v after expanding ${ENV} references in
// scalar values, and reports unknown keys and badly typed values with their
// field paths, all at once.
func decodeStrict(raw []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config is not valid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return errors.New("config is empty")
	}
	var errs []error
	walk(doc.Content[0], reflect.TypeOf(v).Elem(), "", &errs)
	if err := doc.Content[0].Decode(v); err != nil {
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		return fmt.Errorf("config: %w", err)
	}
	if len(errs) > 0 {
		// The rest decoded (unknown keys are skipped, an unset variable
		// left as written): its values can be checked too.
		return &keyErrors{errs: errs}
	}
	return nil
}

// keyErrors are the problems decodeStrict found in a config that still
// decoded: unknown keys and unset variables. Its values are validated
// too, so that ferry check reports every problem in one run.
type keyErrors struct{ errs []error }

func (k *keyErrors) Error() string { return errors.Join(k.errs...).Error() }

func (k *keyErrors) Unwrap() []error { return k.errs }

// with joins the keys' problems and those of the values (err, from
// compile), leaving out a value's problem at a field the keys' already
// name (the unset variable's text is no value to judge).
func (k *keyErrors) with(err error) error {
	out := slices.Clone(k.errs)
	named := make(map[string]bool, len(k.errs))
	for _, e := range k.errs {
		field, _, _ := strings.Cut(e.Error(), ":")
		named[field] = true
	}
	for _, e := range prefixed("", err) {
		field, _, _ := strings.Cut(e.Error(), ":")
		if !named[field] {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

var (
	envRe        = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)
	durationType = reflect.TypeOf(time.Duration(0))
)

// walk checks node against type t: unknown keys, scalar types, and ${ENV}
// expansion (done in place).
func walk(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	at := func(field string) string {
		if path == "" {
			return field
		}
		return path + "." + field
	}
	name := path
	if name == "" {
		name = "config"
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Errorf("%s: must be a mapping", name))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			f, ok := fieldByTag(t, key)
			if !ok {
				err := fmt.Errorf("%s: unknown key (line %d)", at(key), n.Content[i].Line)
				if near := nearestKey(t, key); near != "" {
					err = fmt.Errorf("%w; did you mean %q?", err, near)
				}
				*errs = append(*errs, err)
				continue
			}
			walk(n.Content[i+1], f.Type, at(key), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Errorf("%s: must be a mapping", name))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], t.Elem(), at(n.Content[i].Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, fmt.Errorf("%s: must be a list", name))
			return
		}
		for i, item := range n.Content {
			walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, fmt.Errorf("%s: must be a single value", name))
			return
		}
		if err := expandEnv(n); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		if err := checkScalar(n.Value, t); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		if t.Kind() != reflect.String && t != durationType {
			// A quoted or expanded "4" is accepted where a number is due.
			n.Tag, n.Style = "", 0
		}
	}
}

// nearestKey returns the key of struct t closest to an unknown key, when
// it is close enough to be a typo (one or two edits, by the length of the
// key), else "".
func nearestKey(t reflect.Type, key string) string {
	best, bestDist := "", min(2, max(1, len(key)/3))+1
	for _, f := range yamlFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		if d := editDistance(strings.ToLower(key), tag); d < bestDist {
			best, bestDist = tag, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours ("lsiten")
// count one each.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// fieldByTag finds the field of t that YAML key names.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range yamlFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == key && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlFields lists the fields of struct t as YAML sees them: the fields of
// a field tagged ",inline" (a section composed of several packages' parts)
// stand in for it.
func yamlFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if _, opts, _ := strings.Cut(f.Tag.Get("yaml"), ","); opts == "inline" && f.Type.Kind() == reflect.Struct {
			out = append(out, yamlFields(f.Type)...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// expandEnv replaces ${VAR} and ${VAR:-default} in a scalar; $${ is a
// literal ${. An unset variable without a default is an error.
func expandEnv(n *yaml.Node) error {
	if !strings.Contains(n.Value, "${") {
		return nil
	}
	var missing []string
	out := envRe.ReplaceAllStringFunc(n.Value, func(m string) string {
		if m == "$${" {
			return "${"
		}
		sub := envRe.FindStringSubmatch(m)
		if v, ok := os.LookupEnv(sub[1]); ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	if out != n.Value {
		n.Value = out
		if n.Style == 0 {
			n.Tag = "" // re-resolve: ${PORT} may now be a number
		}
	}
	return nil
}

// checkScalar reports a value that will not decode into t.
func checkScalar(v string, t reflect.Type) error {
	if t == durationType {
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("%q is not a duration (use e.g. 500ms, 5s, 1m)", v)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(v, 0, t.Bits()); err != nil {
			return fmt.Errorf("%q is not a whole number of %d bits", v, t.Bits())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(v, 0, t.Bits()); err != nil {
			return fmt.Errorf("%q is not a non-negative whole number", v)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(v, t.Bits()); err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
	case reflect.Bool:
		switch strings.ToLower(v) {
		case "true", "false", "yes", "no", "on", "off":
		default:
			return fmt.Errorf("%q is not true or false", v)
		}
	}
	return nil
}

// formatErrors prints a joined error one problem per line.
func formatErrors(err error) string {
	var b bytes.Buffer
	for _, e := range prefixed("", err) {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// schemaErrors splits the error of schemas.Load into one problem per line,
// each naming the file by its path from the working directory, as in
// "schemas.dir: schemas/order.json: unresolved $ref ...". (Load names files
// relative to the folder, and a field path prefix would read as
// "schemas.dir.order.json".)
func schemaErrors(dir string, err error) []error {
	parts := prefixed("", err)
	for i, e := range parts {
		if errors.Is(e, schemas.ErrInvalidSchema) || errors.Is(e, schemas.ErrDuplicateID) || errors.Is(e, schemas.ErrUnresolvedRef) {
			// Each of these messages starts with the file's path
			// relative to dir.
			parts[i] = fmt.Errorf("schemas.dir: %s%c%w", dir, filepath.Separator, e)
		} else {
			parts[i] = fmt.Errorf("schemas.dir: %w", e)
		}
	}
	return parts
}

// folderNeeded reports whether a route names a schema of the folder: a
// schema that no registry subject filled in, a reply schema or a record
// schema.
func folderNeeded(routes []topics.RouteConfig) bool {
	for _, r := range routes {
		if (r.Schema != "" && r.RegistryID == 0) || (r.Reply != nil && r.Reply.Schema != "") || (r.Body != nil && r.Body.RecordSchema != "") {
			return true
		}
	}
	return false
}
