package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../mcpgate"

const (
	releaseName = "gw"
	namespace   = "mcp"
	fullname    = "gw-mcpgate" // release name + chart name
)

var loadChart = sync.OnceValues(func() (*chart.Chart, error) { return loader.Load(chartDir) })

// rendered is one render of the chart: manifests by template file, and the
// objects they hold.
type rendered struct {
	files   map[string]string
	objects []object
}

// object is one rendered Kubernetes object.
type object struct {
	file string
	kind string
	name string
	raw  []byte // the object as YAML
	m    map[string]any
}

// render renders the chart as `helm install gw -n mcp -f values` would, with
// the schema checked and Strict on (as `helm lint --strict` renders).
func render(t *testing.T, values string) (*rendered, error) {
	t.Helper()
	return renderWith(t, values, nil)
}

// renderWith renders with a cluster behind Helm's lookup function (nil: no
// cluster, as helm template and helm lint render).
func renderWith(t *testing.T, values string, cluster engine.ClientProvider) (*rendered, error) {
	t.Helper()
	c, top, err := renderValues(t, values, false)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if cluster != nil {
		files, err = engine.RenderWithClientProvider(c, top, cluster)
	} else {
		files, err = engine.Engine{Strict: true}.Render(c, top)
	}
	if err != nil {
		return nil, err
	}
	r := &rendered{files: map[string]string{}}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		short := strings.TrimPrefix(name, "mcpgate/")
		r.files[short] = files[name]
		if !strings.HasSuffix(name, ".yaml") || strings.Contains(name, "/_") {
			continue
		}
		for _, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				t.Fatalf("%s does not parse as YAML: %v\n%s", short, err, doc)
			}
			if m == nil {
				continue
			}
			meta, _ := m["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			kind, _ := m["kind"].(string)
			r.objects = append(r.objects, object{file: short, kind: kind, name: name, raw: []byte(doc), m: m})
		}
	}
	return r, nil
}

// renderValues returns the chart and what its templates see for values, as
// `helm install gw -n mcp -f values` computes them; an error is the
// schema's refusal. skipSchema skips values.schema.json, as
// --skip-schema-validation does.
func renderValues(t *testing.T, values string, skipSchema bool) (*chart.Chart, chartutil.Values, error) {
	t.Helper()
	c, err := loadChart()
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		t.Fatalf("values YAML: %v", err)
	}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(c, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, nil, skipSchema)
	return c, top, err
}

// mustRender renders values and fails the test on any error.
func mustRender(t *testing.T, values string) *rendered {
	t.Helper()
	r, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// renderError renders values and returns the error, failing if there is none.
func renderError(t *testing.T, values string) string {
	t.Helper()
	_, err := render(t, values)
	if err == nil {
		t.Fatalf("render succeeded, want an error; values:\n%s", values)
	}
	return err.Error()
}

// find returns the objects of kind.
func (r *rendered) find(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the object of kind and name, failing if there is none.
func (r *rendered) one(t *testing.T, kind, name string) object {
	t.Helper()
	for _, o := range r.objects {
		if o.kind == kind && o.name == name {
			return o
		}
	}
	t.Fatalf("no %s %q rendered; have %s", kind, name, r.kinds())
	return object{}
}

func (r *rendered) kinds() string {
	var ks []string
	for _, o := range r.objects {
		ks = append(ks, o.kind+"/"+o.name)
	}
	return strings.Join(ks, ", ")
}

// decode decodes the object strictly into a typed Kubernetes object, so a
// misspelt field in a template fails the test.
func (o object) decode(t *testing.T, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.raw, into); err != nil {
		t.Fatalf("%s %s: %v\n%s", o.kind, o.name, err, o.raw)
	}
}

func (r *rendered) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	r.one(t, "Deployment", fullname).decode(t, &d)
	return &d
}

func (r *rendered) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	r.one(t, "ConfigMap", name).decode(t, &cm)
	return &cm
}

// gatewayConfig returns the rendered mcpgate.yaml, parsed.
func (r *rendered) gatewayConfig(t *testing.T) map[string]any {
	t.Helper()
	cm := r.configMap(t, fullname)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["mcpgate.yaml"]), &cfg); err != nil {
		t.Fatalf("mcpgate.yaml does not parse: %v\n%s", err, cm.Data["mcpgate.yaml"])
	}
	return cfg
}

// container returns the gateway container of the Deployment.
func container(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "mcpgate" {
			return c
		}
	}
	t.Fatal("no mcpgate container")
	return nil
}

// mount returns the container's volume mount at path and its volume.
func mount(t *testing.T, d *appsv1.Deployment, path string) (corev1.VolumeMount, corev1.Volume) {
	t.Helper()
	for _, m := range container(t, d).VolumeMounts {
		if m.MountPath == path {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return m, v
				}
			}
			t.Fatalf("mount %s names volume %q, which the pod does not have", path, m.Name)
		}
	}
	t.Fatalf("nothing is mounted at %s", path)
	return corev1.VolumeMount{}, corev1.Volume{}
}

// lookup walks a parsed YAML document along keys ("a", "b", 0, "c").
func lookup(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not a mapping: %v", path[:i], v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("no key %v", path[:i+1])
			}
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("at %v: no item %d in %v", path[:i], k, v)
			}
			v = s[k]
		}
	}
	return v
}

// ciValuesFiles returns the chart's ci/*.yaml files by base name.
func ciValuesFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ci/*.yaml values files (%v)", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[filepath.Base(p)] = readFile(t, p)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantContains fails unless s contains every one of subs.
func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ptrValue[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}
