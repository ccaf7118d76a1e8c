package charttest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// clusterKinds are the kinds the fake cluster serves: those the chart looks up.
var clusterKinds = map[string]schema.GroupVersionResource{
	"v1 Secret":          {Version: "v1", Resource: "secrets"},
	"v1 ConfigMap":       {Version: "v1", Resource: "configmaps"},
	"apps/v1 Deployment": {Group: "apps", Version: "v1", Resource: "deployments"},
}

// fakeCluster serves Helm's lookup from a fake API server.
type fakeCluster struct {
	client *dynamicfake.FakeDynamicClient
}

// newCluster returns a cluster holding objects in the release namespace,
// and the kube-root-ca.crt ConfigMap every namespace of a real cluster holds
// (the chart's sign that lookup reaches a cluster).
func newCluster(objects ...runtime.Object) fakeCluster {
	lists := map[schema.GroupVersionResource]string{}
	for k, gvr := range clusterKinds {
		lists[gvr] = strings.Fields(k)[1] + "List"
	}
	objects = append(objects, clusterObject("v1", "ConfigMap", "kube-root-ca.crt", map[string]any{"data": map[string]any{"ca.crt": "PEM"}}))
	return fakeCluster{dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objects...)}
}

func (c fakeCluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	gvr, ok := clusterKinds[apiVersion+" "+kind]
	if !ok {
		return nil, false, fmt.Errorf("lookup of %s %s: the fake cluster serves only %v", apiVersion, kind, slices.Sorted(maps.Keys(clusterKinds)))
	}
	return c.client.Resource(gvr), true, nil
}

// clusterObject is an object in the release namespace with fields beside
// apiVersion, kind and metadata.
func clusterObject(apiVersion, kind, name string, fields map[string]any) *unstructured.Unstructured {
	o := map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": namespace},
	}
	maps.Copy(o, fields)
	return &unstructured.Unstructured{Object: o}
}

// liveDeployment is the release's Deployment running replicas pods.
func liveDeployment(replicas int64) runtime.Object {
	return clusterObject("apps/v1", "Deployment", fullname, map[string]any{"spec": map[string]any{"replicas": replicas}})
}

// TestReplicasWithAutoscaling: switching a running release to autoscaling
// must keep its pods until the HPA owns the count, not drop to one.
func TestReplicasWithAutoscaling(t *testing.T) {
	t.Parallel()
	autoscaling := minimal + "autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 10}\n"
	fixed := minimal + "replicaCount: 3\n"
	for name, tc := range map[string]struct {
		values string
		live   []runtime.Object // nil: no cluster behind lookup; empty: an empty namespace
		want   string           // "<nil>": no replicas field
	}{
		"without a cluster (helm template) the field is left out": {autoscaling, nil, "<nil>"},
		"first install: minReplicas":                              {autoscaling, []runtime.Object{}, "2"},
		"upgrade from replicaCount 3 keeps 3":                     {autoscaling, []runtime.Object{liveDeployment(3)}, "3"},
		"a live count above maxReplicas is clamped":               {autoscaling, []runtime.Object{liveDeployment(14)}, "10"},
		"a live count below minReplicas is raised":                {autoscaling, []runtime.Object{liveDeployment(0)}, "2"},
		"autoscaling off: replicaCount, whatever runs":            {fixed, []runtime.Object{liveDeployment(7)}, "3"},
		"autoscaling off without a cluster: replicaCount":         {fixed, nil, "3"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := renderLive(t, tc.values, tc.live)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "spec.replicas", fmt.Sprint(ptrValue(r.deployment(t).Spec.Replicas)), tc.want)
		})
	}
}

// renderLive renders with a cluster holding live behind lookup, or without
// a cluster when live is nil.
func renderLive(t *testing.T, values string, live []runtime.Object) (*rendered, error) {
	t.Helper()
	if live == nil {
		return render(t, values)
	}
	return renderWith(t, values, newCluster(live...))
}

// TestNotesWarnMissingReferences: a Secret or ConfigMap the values name and
// the namespace lacks leaves the pods in ContainerCreating without an error
// anywhere Helm shows; NOTES.txt must say so, and only when it can know.
func TestNotesWarnMissingReferences(t *testing.T) {
	t.Parallel()
	refs := minimal + `
sessions: {existingSecret: session-keys}
secretMounts: [{name: notes, existingSecret: notes-upstream, items: [{key: api-key, path: api-key}]}]
extraVolumes:
  - {name: ca, configMap: {name: corp-ca}}
  - {name: opt, secret: {secretName: optional-secret, optional: true}}
envFrom: [{secretRef: {name: otel-env}}]
env: [{name: REGION, valueFrom: {configMapKeyRef: {name: region, key: region}}}]
imagePullSecrets: [{name: regcred}]
ingress: {enabled: true, hosts: [mcp.example.com], tls: [{secretName: mcp-tls, hosts: [mcp.example.com]}]}
`
	missing := []string{
		"sessions.existingSecret: Secret session-keys does not exist in namespace mcp; until it does, the pods stay in ContainerCreating",
		"secretMounts[0].existingSecret: Secret notes-upstream does not exist",
		"extraVolumes[0].configMap.name: ConfigMap corp-ca does not exist",
		"envFrom[0].secretRef.name: Secret otel-env does not exist in namespace mcp; until it does, the container cannot start (CreateContainerConfigError)",
		"env[0].valueFrom.configMapKeyRef.name: ConfigMap region does not exist",
		"imagePullSecrets[0].name: Secret regcred does not exist",
		"ingress.tls[0].secretName: Secret mcp-tls does not exist",
	}
	all := []runtime.Object{
		clusterObject("v1", "Secret", "session-keys", map[string]any{"data": map[string]any{"keys": "a2V5"}}),
		clusterObject("v1", "Secret", "notes-upstream", map[string]any{"data": map[string]any{"api-key": "a2V5"}}),
		clusterObject("v1", "ConfigMap", "corp-ca", nil),
		clusterObject("v1", "Secret", "otel-env", nil),
		clusterObject("v1", "ConfigMap", "region", map[string]any{"data": map[string]any{"region": "eu"}}),
		clusterObject("v1", "Secret", "regcred", nil),
		clusterObject("v1", "Secret", "mcp-tls", nil),
	}
	bundle := readFile(t, chartDir+"/ci/bundle-values.yaml")
	for name, tc := range map[string]struct {
		values  string
		live    []runtime.Object // nil: no cluster behind lookup
		want    []string
		notWant []string
	}{
		"every missing reference":  {refs, []runtime.Object{}, missing, []string{"optional-secret"}},
		"all present":              {refs, all, nil, []string{"does not exist", "has no key"}},
		"no cluster: nothing said": {refs, nil, nil, []string{"does not exist", "has no key"}},
		"a key missing": {refs, append(slices.Clone(all[1:]), clusterObject("v1", "Secret", "session-keys", map[string]any{"data": map[string]any{"other": "a2V5"}})),
			[]string{`sessions.existingSecret: Secret session-keys has no key "keys"; until it has, the pods stay in ContainerCreating`}, []string{"does not exist"}},
		"cert-manager creates the TLS Secret": {strings.Replace(refs, "ingress: {", "ingress: {annotations: {cert-manager.io/cluster-issuer: letsencrypt}, ", 1), []runtime.Object{}, nil, []string{"mcp-tls"}},
		"policy ConfigMap":                    {minimal + "policy: {source: configMap, configMap: {name: corp-policy}}\n", []runtime.Object{}, []string{"policy.configMap.name: ConfigMap corp-policy does not exist"}, nil},
		"bundle token Secret":                 {bundle, []runtime.Object{}, []string{"policy.bundle.bearerToken.existingSecret: Secret mcpgate-bundle-token does not exist"}, nil},
		"the chart's own session Secret":      {minimal, []runtime.Object{}, nil, []string{"does not exist"}},
		"approval lock ConfigMap": {minimal + "approval: {existingConfigMap: {name: pinning-lock}}\n", []runtime.Object{},
			[]string{"approval.existingConfigMap.name: ConfigMap pinning-lock does not exist in namespace mcp; until it does, the pods stay in ContainerCreating"}, nil},
		"approval lock ConfigMap without its key": {minimal + "approval: {existingConfigMap: {name: pinning-lock, key: lock.yaml}}\n",
			[]runtime.Object{clusterObject("v1", "ConfigMap", "pinning-lock", map[string]any{"data": map[string]any{"mcpgate.lock.yaml": "version: 1"}})},
			[]string{`approval.existingConfigMap.name: ConfigMap pinning-lock has no key "lock.yaml"`}, nil},
		"the chart's own approval ConfigMap": {minimal + lockValues("version: 1\n"), []runtime.Object{}, nil, []string{"does not exist"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := renderLive(t, tc.values, tc.live)
			if err != nil {
				t.Fatal(err)
			}
			notes := r.files["templates/NOTES.txt"]
			wantContains(t, "NOTES.txt", notes, tc.want...)
			for _, s := range tc.notWant {
				if strings.Contains(notes, s) {
					t.Errorf("NOTES.txt contains %q:\n%s", s, notes)
				}
			}
		})
	}
}
