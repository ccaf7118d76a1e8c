//go:build linux

package sidebyside

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// startCollector starts the OpenTelemetry Collector built by
// scripts/install-tools.sh with an OTLP/HTTP receiver on loopback, the
// batch processor and the debug exporter (basic verbosity: a line per batch
// with its span count, in dir/collector.log, see spansReceived), and returns
// the environment that makes mcpgate export every span to it (and no logs;
// metrics are the caller's choice).
func startCollector(bin, dir string) (*proc, []string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	cfg := map[string]any{
		"receivers":  map[string]any{"otlp": map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": addr}}}},
		"processors": map[string]any{"batch": map[string]any{}},
		"exporters":  map[string]any{"debug": map[string]any{"verbosity": "basic"}},
		"service": map[string]any{
			"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}, "logs": map[string]any{"level": "info",
				// Not sampled: the collector's logger keeps 10 lines of a
				// kind per 10 s and then 1 in 100, and the debug
				// exporter's line per batch is how spans are counted.
				"sampling": map[string]any{"enabled": false}}},
			"pipelines": map[string]any{"traces": map[string]any{
				"receivers": []string{"otlp"}, "processors": []string{"batch"}, "exporters": []string{"debug"},
			}},
		},
	}
	path := filepath.Join(dir, "otelcol.yaml")
	data, _ := json.Marshal(cfg) // JSON is YAML
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, nil, fmt.Errorf("collector config: %w", err)
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Env = []string{"HOME=" + dir}
	log, err := os.Create(filepath.Join(dir, collectorLog))
	if err != nil {
		return nil, nil, fmt.Errorf("collector log: %w", err)
	}
	defer log.Close() // the child has its own copy
	p, err := start("otelcol-mcpgate", cmd, log)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (build it with scripts/install-tools.sh, or run with --tracing=false)", err)
	}
	if err := p.waitListening(addr); err != nil {
		p.stop()
		return nil, nil, err
	}
	env := []string{
		"HOME=" + dir,
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_LOGS_EXPORTER=none",
	}
	return p, env, nil
}

const collectorLog = "collector.log"

// spansLine matches the debug exporter's line per batch of traces.
var spansLine = regexp.MustCompile(`"spans": (\d+)`)

// spansReceived adds up the spans the collector logged receiving.
func spansReceived(dir string) int {
	f, err := os.Open(filepath.Join(dir, collectorLog))
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := spansLine.FindSubmatch(sc.Bytes()); m != nil {
			k, _ := strconv.Atoi(string(m[1]))
			n += k
		}
	}
	return n
}
