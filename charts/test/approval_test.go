package charttest

import (
	"bytes"
	"errors"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Tool pinning (issue #16): the lock file `mcpgate approve` writes reaches
// the pod from approval.lock (a ConfigMap the chart creates) or
// approval.existingConfigMap, mounted as a directory so that the kubelet's
// updates reach the gateway, which reloads the lock in place.

const (
	approvalDir  = "/etc/mcpgate/approval"
	lockPath     = approvalDir + "/mcpgate.lock.yaml"
	approvalCM   = fullname + "-approval"
	lockFileName = "mcpgate.lock.yaml"
)

// lockValues sets approval.lock to lock, as --set-file would (a string).
func lockValues(lock string) string {
	var b strings.Builder
	b.WriteString("approval:\n  lock: |\n")
	for _, line := range strings.SplitAfter(lock, "\n") {
		if line != "" {
			b.WriteString("    " + line)
		}
	}
	return b.String()
}

// A lock with what YAML and templates could mangle: comments, quotes,
// braces, a template-like string, a long digest. Its format is the
// gateway's business (docs/approval.md): the chart passes the lock through
// byte for byte.
const someLock = `# written by mcpgate approve; review its diff
version: 1
servers:
  notes:
    tools:
      search:
        digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        definition: {"description": "Search {{ notes }} for 'text'", "name": "search"}
`

// approvalMount checks the mount at /etc/mcpgate/approval and its volume
// for what every lock mount must be: read-only, a directory (no
// subPath: a subPath mount never sees a ConfigMap update, so a new lock
// would need a restart), the lock projected as mcpgate.lock.yaml.
func approvalMount(t *testing.T, d *appsv1.Deployment, wantConfigMap, wantKey string) {
	t.Helper()
	m, v := mount(t, d, approvalDir)
	if !m.ReadOnly {
		t.Error("the lock is mounted writable")
	}
	if m.SubPath != "" || m.SubPathExpr != "" {
		t.Errorf("the lock is mounted with subPath %q: the kubelet never updates such a mount, so a new lock would not reach the gateway", m.SubPath)
	}
	for _, other := range container(t, d).VolumeMounts {
		if other.Name == m.Name && other.MountPath != approvalDir {
			t.Errorf("the lock's volume is mounted again at %s", other.MountPath)
		}
	}
	if v.ConfigMap == nil || v.ConfigMap.Name != wantConfigMap {
		t.Fatalf("lock volume %+v, want ConfigMap %s", v.VolumeSource, wantConfigMap)
	}
	if want := []corev1.KeyToPath{{Key: wantKey, Path: lockFileName}}; len(v.ConfigMap.Items) != 1 || v.ConfigMap.Items[0] != want[0] {
		t.Errorf("lock volume items %+v, want %+v", v.ConfigMap.Items, want)
	}
	if v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
		t.Error("the lock volume is optional: a missing lock would start the gateway without it")
	}
}

// gatewayLockFile checks that the rendered config names the mounted lock,
// and that the gateway's configuration loader reads it so.
func gatewayLockFile(t *testing.T, r *rendered) *config.Config {
	t.Helper()
	cfg := r.gatewayConfig(t)
	got := lookup(t, cfg, "approval", "lock_file")
	equal(t, "config.approval.lock_file", got, any(lockPath))
	// The path is the mount's directory and the volume item's file name.
	if s, _ := got.(string); path.Dir(s) != approvalDir || path.Base(s) != lockFileName {
		t.Errorf("lock_file %v is not the mounted %s/%s", got, approvalDir, lockFileName)
	}
	parsed := servedConfigAllowingPodFiles(t, r)
	equal(t, "parsed approval.lock_file", parsed.Approval.LockFile, lockPath)
	return parsed
}

// servedConfigAllowingPodFiles parses mcpgate.yaml as `mcpgate serve` does,
// ignoring only problems with files that exist in the pod alone.
func servedConfigAllowingPodFiles(t *testing.T, r *rendered) *config.Config {
	t.Helper()
	src := r.configMap(t, fullname).Data["mcpgate.yaml"]
	cfg, err := config.Parse([]byte(src), "mcpgate.yaml")
	var ve *config.ValidationError
	if err != nil && !errors.As(err, &ve) {
		t.Fatalf("config does not parse: %v\n%s", err, src)
	}
	if ve != nil {
		for _, p := range ve.Problems {
			if !podOnly(p) {
				t.Errorf("the gateway refuses the rendered config: %s\n%s", p, src)
			}
		}
	}
	if cfg == nil {
		t.Fatalf("no config parsed:\n%s", src)
	}
	return cfg
}

func TestApprovalLockFromValues(t *testing.T) {
	values := minimal + "  approval: {mode: warn}\n" + lockValues(someLock)
	r := mustRender(t, values)

	cm := r.configMap(t, approvalCM)
	if got := keys(cm.Data); len(got) != 1 || got[0] != lockFileName {
		t.Errorf("approval ConfigMap keys %v, want only %s", got, lockFileName)
	}
	if cm.Data[lockFileName] != someLock {
		t.Errorf("the ConfigMap holds the lock as\n%s\nwant it byte for byte\n%s", cm.Data[lockFileName], someLock)
	}
	equal(t, "component label", cm.Labels["app.kubernetes.io/component"], "approval")

	d := r.deployment(t)
	approvalMount(t, d, approvalCM, lockFileName)
	cfg := gatewayLockFile(t, r)
	// The mode stays the user's.
	equal(t, "approval.mode", cfg.Approval.Mode, config.ApprovalWarn)
	equal(t, "notes' mode", cfg.ApprovalMode(&cfg.Servers[0]), config.ApprovalWarn)

	// A new lock changes the lock's ConfigMap and nothing else: the pod
	// template (annotations included) and the config stay byte for byte,
	// so a re-approval never rolls the pods; the gateway reloads it.
	newLock := strings.Replace(someLock, "0123456789abcdef0123", "fedcba9876543210fedc", 1)
	r2 := mustRender(t, minimal+"  approval: {mode: warn}\n"+lockValues(newLock))
	if r2.configMap(t, approvalCM).Data[lockFileName] != newLock {
		t.Error("the approval ConfigMap does not follow approval.lock")
	}
	for _, kind := range []struct{ kind, name string }{{"Deployment", fullname}, {"ConfigMap", fullname}} {
		if a, b := r.one(t, kind.kind, kind.name).raw, r2.one(t, kind.kind, kind.name).raw; !bytes.Equal(a, b) {
			t.Errorf("%s %s changes with the lock's content: a re-approval would restart the pods\n%s\n---\n%s", kind.kind, kind.name, a, b)
		}
	}
	for k, v := range d.Spec.Template.Annotations {
		if strings.Contains(k, "approval") || strings.Contains(k, "lock") {
			t.Errorf("pod annotation %s: %s: nothing of the lock may roll the pods", k, v)
		}
	}
}

func TestApprovalLockFromExistingConfigMap(t *testing.T) {
	for name, tc := range map[string]struct{ values, key string }{
		"own key":     {"approval: {existingConfigMap: {name: pinning-lock, key: lock.yaml}}", "lock.yaml"},
		"default key": {"approval: {existingConfigMap: {name: pinning-lock}}", lockFileName},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, minimal+tc.values)
			for _, o := range r.find("ConfigMap") {
				if o.name != fullname && o.name != fullname+"-policy" {
					t.Errorf("ConfigMap %s rendered although the lock comes from an existing ConfigMap", o.name)
				}
			}
			approvalMount(t, r.deployment(t), "pinning-lock", tc.key)
			gatewayLockFile(t, r)
		})
	}
}

// TestApprovalOff: neither value set (the default) mounts nothing and
// leaves config.approval as the user wrote it.
func TestApprovalOff(t *testing.T) {
	for name, tc := range map[string]struct {
		values string
		want   any // config.approval rendered; nil: absent
	}{
		"defaults": {minimal, nil},
		"mode off": {minimal + "  approval: {mode: 'off'}\n", map[string]any{"mode": "off"}},
		"own lock file, own mount": {minimal + "  approval: {lock_file: /etc/lock/mcpgate.lock.yaml}\n" +
			"extraVolumes: [{name: lock, configMap: {name: l}}]\nextraVolumeMounts: [{name: lock, mountPath: /etc/lock}]\n",
			map[string]any{"lock_file": "/etc/lock/mcpgate.lock.yaml"}},
		"key without name": {minimal + "approval: {existingConfigMap: {key: lock.yaml}}\n", nil},
		"both empty":       {minimal + "approval: {lock: '', existingConfigMap: {name: ''}}\n", nil},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, tc.values)
			if o := r.find("ConfigMap"); len(o) != 2 {
				t.Errorf("ConfigMaps %s, want only the config and the policy", r.kinds())
			}
			d := r.deployment(t)
			for _, m := range container(t, d).VolumeMounts {
				if m.Name == "approval" || strings.HasPrefix(m.MountPath, approvalDir) {
					t.Errorf("%s is mounted at %s without a lock", m.Name, m.MountPath)
				}
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == "approval" {
					t.Errorf("volume %+v without a lock", v)
				}
			}
			got, ok := r.gatewayConfig(t)["approval"]
			if tc.want == nil {
				if ok {
					t.Errorf("config.approval = %v, want it absent", got)
				}
			} else if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("config.approval = %v, want %v as written", got, tc.want)
			}
			servedConfigAllowingPodFiles(t, r)
		})
	}
}

// TestApprovalLockFromBothRefused: the lock comes from one place. The
// schema refuses both before anything renders; with the schema skipped
// (--skip-schema-validation), the template says what to do.
func TestApprovalLockFromBothRefused(t *testing.T) {
	values := minimal + "approval: {lock: 'version: 1', existingConfigMap: {name: pinning-lock}}\n"
	msg := renderError(t, values)
	wantContains(t, "the schema's refusal", msg, "values don't meet the specifications of the schema", "at '/approval/existingConfigMap/name'")
	wantContains(t, "the template's refusal", renderSkippingSchema(t, values),
		"approval.lock and approval.existingConfigMap.name (pinning-lock) are both set: the lock file comes from one of them")
	// The same lock_file as the chart's is no contradiction.
	r := mustRender(t, minimal+"  approval: {lock_file: "+lockPath+"}\napproval: {existingConfigMap: {name: l}}\n")
	gatewayLockFile(t, r)
}
