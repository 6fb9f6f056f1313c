package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Docker does not run on the machines these tests run on, so `docker
// compose config` cannot check compose.yaml: TestComposeInvariants reads
// compose.yaml, the Dockerfile and deploy/haproxy.cfg and checks what
// makes the topology production-like (issue 16 item 25).

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct{ Subnet string } `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context string `yaml:"context"`
	} `yaml:"build"`
	Command         []string          `yaml:"command"`
	Entrypoint      []string          `yaml:"entrypoint"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Healthcheck     *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Networks map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

// containerConfigDir is where compose.yaml mounts testdata/.
const containerConfigDir = "/etc/ferry"

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return cf
}

// mountSource returns the host path a service mounts at target ("" if
// none).
func (s composeService) mountSource(target string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0]
		}
	}
	return ""
}

// ferryConfig loads the config a ferry service runs with, as the
// container sees it: its -c path mapped back to testdata/, its
// environment set.
func ferryConfig(t *testing.T, name string, s composeService) *loaded {
	t.Helper()
	if src := s.mountSource(containerConfigDir); src != "./testdata" {
		t.Fatalf("%s mounts %q at %s, want ./testdata", name, src, containerConfigDir)
	}
	i := slices.Index(s.Command, "-c")
	if i < 0 || i+1 >= len(s.Command) || !strings.HasPrefix(s.Command[i+1], containerConfigDir+"/") {
		t.Fatalf("%s: command %q names no config under %s", name, s.Command, containerConfigDir)
	}
	for k, v := range s.Environment {
		t.Setenv(k, v)
	}
	path := filepath.Join("../../testdata", strings.TrimPrefix(s.Command[i+1], containerConfigDir+"/"))
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("%s: %s:\n%s", name, path, formatErrors(err))
	}
	return cfg
}

func TestComposeInvariants(t *testing.T) {
	cf := readCompose(t)
	byCommand := func(cmd string) (names []string) {
		for name, s := range cf.Services {
			if len(s.Command) > 0 && s.Command[0] == cmd {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	instances := byCommand("serve")
	if len(instances) < 2 {
		t.Fatalf("ferry instances (command serve): %q, want two", instances)
	}

	t.Run("no go run", func(t *testing.T) {
		for name, s := range cf.Services {
			if cmd := strings.Join(append(s.Entrypoint, s.Command...), " "); strings.Contains(cmd, "go run") || strings.HasPrefix(s.Image, "golang") {
				t.Errorf("%s compiles at start (%s %q): run the image of the Dockerfile", name, s.Image, cmd)
			}
		}
	})

	t.Run("ferry runs from the Dockerfile's image", func(t *testing.T) {
		for _, name := range append(instances, byCommand("respond")...) {
			s := cf.Services[name]
			if s.Build == nil || s.Build.Context != "." || s.Image == "" {
				t.Errorf("%s: build %+v image %q, want the Dockerfile at the root, tagged", name, s.Build, s.Image)
			}
		}
	})

	t.Run("stop_grace_period covers the shutdown", func(t *testing.T) {
		for _, name := range instances {
			s := cf.Services[name]
			cfg := ferryConfig(t, name, s)
			grace, err := time.ParseDuration(s.StopGracePeriod)
			// The clients close after the grace period: leave them 5s.
			need := cfg.Server.ShutdownDelay + cfg.Server.GracePeriod + 5*time.Second
			if err != nil || grace < need {
				t.Errorf("%s: stop_grace_period %q, want at least shutdown_delay %v + grace_period %v + 5s (Docker's default 10s SIGKILLs a draining instance)",
					name, s.StopGracePeriod, cfg.Server.ShutdownDelay, cfg.Server.GracePeriod)
			}
		}
	})

	t.Run("healthcheck asks /readyz with ferry healthcheck", func(t *testing.T) {
		for _, name := range instances {
			s := cf.Services[name]
			cfg := ferryConfig(t, name, s)
			_, port, _ := net.SplitHostPort(cfg.Listen)
			if s.Healthcheck == nil || len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" ||
				filepath.Base(s.Healthcheck.Test[1]) != "ferry" || s.Healthcheck.Test[2] != "healthcheck" {
				t.Fatalf("%s: healthcheck %+v, want [CMD /usr/local/bin/ferry healthcheck URL] (the image has no shell or curl)", name, s.Healthcheck)
			}
			url := defaultReadyURL
			if len(s.Healthcheck.Test) > 3 {
				url = s.Healthcheck.Test[3]
			}
			if want := "http://127.0.0.1:" + port + "/readyz"; url != want {
				t.Errorf("%s: healthcheck asks %s, want %s (listen %q)", name, url, want, cfg.Listen)
			}
		}
	})

	t.Run("data on volumes", func(t *testing.T) {
		kafka, redis := cf.Services["kafka"], cf.Services["redis"]
		logDirs := kafka.Environment["KAFKA_LOG_DIRS"]
		if v := kafka.mountSource(logDirs); logDirs == "" || cf.Volumes[v] == nil {
			t.Errorf("kafka keeps its log dirs (%q) on volume %q, want a named volume declared under volumes", logDirs, v)
		}
		if v := redis.mountSource("/data"); cf.Volumes[v] == nil || !slices.Contains(redis.Command, "--appendonly") {
			t.Errorf("redis: volume %q at /data, command %q; want a named volume and the append-only file", v, redis.Command)
		}
		for _, name := range []string{"kafka", "redis"} {
			if cf.Services[name].Healthcheck == nil {
				t.Errorf("%s has no healthcheck", name)
			}
		}
	})

	t.Run("dependencies", func(t *testing.T) {
		for _, name := range instances {
			d := cf.Services[name].DependsOn
			if d["kafka"].Condition != "service_healthy" || d["redis"].Condition != "service_healthy" {
				t.Errorf("%s depends on %+v, want kafka and redis healthy", name, d)
			}
		}
	})

	t.Run("topics exist before ferry and the responder start", func(t *testing.T) {
		// The job that creates topics, and every topic it creates.
		var job string
		var created []string
		topicRe := regexp.MustCompile(`for t in ([^;]+);`)
		for name, s := range cf.Services {
			script := strings.Join(s.Command, "\n")
			if m := topicRe.FindStringSubmatch(script); m != nil && strings.Contains(script, "kafka-topics.sh") && strings.Contains(script, "--create") {
				job, created = name, strings.Fields(m[1])
			}
		}
		if job == "" {
			t.Fatal("no service creates the topics (kafka-topics.sh --create in a for loop)")
		}
		if d := cf.Services[job].DependsOn["kafka"].Condition; d != "service_healthy" {
			t.Errorf("%s starts before kafka is healthy (%q)", job, d)
		}
		for _, name := range append(instances, byCommand("respond")...) {
			s := cf.Services[name]
			if d := s.DependsOn[job].Condition; d != "service_completed_successfully" {
				t.Errorf("%s starts before %s has created the topics (depends_on condition %q)", name, job, d)
			}
			cfg := ferryConfig(t, name, s)
			for _, topic := range neededTopics(cfg) {
				if !slices.Contains(created, topic) {
					t.Errorf("%s needs topic %s, which %s does not create (%q)", name, topic, job, created)
				}
			}
		}
	})

	t.Run("a load balancer health-checks the instances", func(t *testing.T) {
		lb, ok := cf.Services["lb"]
		if !ok || !strings.HasPrefix(lb.Image, "haproxy:") || len(lb.Ports) == 0 {
			t.Fatalf("lb: %+v, want HAProxy publishing the gateway's port", lb)
		}
		for _, name := range instances {
			if len(cf.Services[name].Ports) > 0 {
				t.Errorf("%s publishes %q: clients go through the load balancer", name, cf.Services[name].Ports)
			}
		}
		src := lb.mountSource("/usr/local/etc/haproxy/haproxy.cfg")
		hc := readHAProxy(t, filepath.Join("../..", src))
		if !hc.httpchk {
			t.Errorf("%s: no `option httpchk GET /readyz` with `http-check expect status 200`", src)
		}
		for _, name := range instances {
			port := "8080"
			if _, p, err := net.SplitHostPort(ferryConfig(t, name, cf.Services[name]).Listen); err == nil {
				port = p
			}
			if !hc.servers[name+":"+port] {
				t.Errorf("%s: no health-checked server %s:%s (servers %v)", src, name, port, hc.servers)
			}
			cfg := ferryConfig(t, name, cf.Services[name])
			if out := hc.inter * time.Duration(hc.fall); out == 0 || out > cfg.Server.ShutdownDelay {
				t.Errorf("%s: an instance leaves the pool %v after /readyz fails (inter %v × fall %d), after %s's shutdown_delay %v",
					src, out, hc.inter, hc.fall, name, cfg.Server.ShutdownDelay)
			}
			var lbAddrs []string
			for _, n := range lb.Networks {
				lbAddrs = append(lbAddrs, n.IPv4Address)
			}
			trusted := false
			for _, a := range lbAddrs {
				trusted = trusted || a != "" && slices.Contains(cfg.Server.TrustedProxies, a)
			}
			if !trusted {
				t.Errorf("%s trusts proxies %q, not the load balancer's fixed address %q", name, cfg.Server.TrustedProxies, lbAddrs)
			}
		}
	})

	t.Run("one route takes a JWT", func(t *testing.T) {
		cfg := ferryConfig(t, instances[0], cf.Services[instances[0]])
		if cfg.Auth.JWT == nil {
			t.Fatal("the compose config has no auth.jwt")
		}
		jwtRoute := false
		for _, r := range cfg.table.Routes() {
			jwtRoute = jwtRoute || r.Auth != "none" && len(r.Scopes) > 0
		}
		if !jwtRoute {
			t.Error("no route of the compose config requires credentials with a scope")
		}
	})
}

// haproxyConfig is what TestComposeInvariants reads of haproxy.cfg.
type haproxyConfig struct {
	httpchk bool
	servers map[string]bool // host:port of servers with `check`
	inter   time.Duration
	fall    int
}

func readHAProxy(t *testing.T, path string) haproxyConfig {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hc := haproxyConfig{servers: map[string]bool{}, inter: 2 * time.Second, fall: 3} // HAProxy's defaults
	var chk, expect bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		line := strings.Join(fields, " ")
		chk = chk || line == "option httpchk GET /readyz"
		expect = expect || line == "http-check expect status 200"
		if fields[0] == "server" && len(fields) >= 3 && slices.Contains(fields, "check") {
			hc.servers[fields[2]] = true
		}
		if fields[0] == "default-server" || fields[0] == "server" {
			for i := 1; i+1 < len(fields); i++ {
				switch fields[i] {
				case "inter":
					if d, err := time.ParseDuration(fields[i+1]); err == nil {
						hc.inter = d
					}
				case "fall":
					if n, err := strconv.Atoi(fields[i+1]); err == nil {
						hc.fall = n
					}
				}
			}
		}
	}
	hc.httpchk = chk && expect
	return hc
}

// TestDockerfileInvariants (issue 16 item 25): a multi-stage build of a
// static binary, run by a non-root user on a minimal image.
func TestDockerfileInvariants(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	type stage struct {
		from  string
		lines []string
	}
	var stages []stage
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, stage{from: strings.Fields(line)[1]})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", line)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a run stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	static := false
	for _, l := range build.lines {
		static = static || strings.HasPrefix(l, "RUN ") && strings.Contains(l, "CGO_ENABLED=0") && strings.Contains(l, "go build") && strings.Contains(l, "./cmd/ferry")
	}
	if !static {
		t.Errorf("the build stage has no RUN CGO_ENABLED=0 go build ./cmd/ferry: %q", build.lines)
	}
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("the run stage is FROM %s, want distroless static (CA certificates, no shell) or scratch", final.from)
	}
	var user, entry string
	copied := false
	for _, l := range final.lines {
		switch f := strings.Fields(l); f[0] {
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entry = l
		case "COPY":
			copied = copied || strings.HasPrefix(f[1], "--from=")
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); user == "" || uid == "0" || uid == "root" {
		t.Errorf("the run stage runs as %q, want a non-root USER", user)
	}
	if !copied || !strings.Contains(entry, "/ferry") {
		t.Errorf("the run stage copies the binary from the build: %v; entrypoint %q", copied, entry)
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil || !strings.Contains(string(ignore), ".data") || !strings.Contains(string(ignore), ".git") {
		t.Errorf(".dockerignore (%v) must keep .git and .data out of the build context", err)
	}
}
