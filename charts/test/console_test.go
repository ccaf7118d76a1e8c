package charttest

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// consoleOn turns the console on, on the main listener, with the web
// sign-in it needs.
const consoleOn = minimal + `  web_sign_in:
    enabled: true
    client_id: mcpgate-web
    client_secret: {value_from_file: /var/run/secrets/mcpgate/web/client-secret}
  console:
    enabled: true
`

// consoleAdmin serves the console on an admin listener of its own.
const consoleAdmin = consoleOn + `    listen_address: 0.0.0.0:9443
    public_url: https://mcpgate-admin.example.com
`

const consoleIngressName = fullname + "-console"

// consoleIngress returns the console's Ingress, decoded.
func (r *rendered) consoleIngress(t *testing.T) *networkingv1.Ingress {
	t.Helper()
	var ing networkingv1.Ingress
	r.one(t, "Ingress", consoleIngressName).decode(t, &ing)
	return &ing
}

// ingressRoutes lists an Ingress's rules as "host path pathType -> port"
// lines, the port as a number or a name.
func ingressRoutes(t *testing.T, ing *networkingv1.Ingress) []string {
	t.Helper()
	var out []string
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil || b.Name != fullname {
				t.Errorf("%s %s: backend %+v, want the Service %s", rule.Host, p.Path, p.Backend, fullname)
				continue
			}
			port := b.Port.Name
			if port == "" {
				port = strconv.Itoa(int(b.Port.Number))
			}
			out = append(out, rule.Host+" "+p.Path+" "+string(*p.PathType)+" -> "+port)
		}
	}
	return out
}

// containerPorts lists a container's ports as "name=port".
func containerPorts(c *corev1.Container) []string {
	var out []string
	for _, p := range c.Ports {
		out = append(out, p.Name+"="+strconv.Itoa(int(p.ContainerPort)))
	}
	return out
}

// servicePorts lists the Service's ports as "name=port->targetPort".
func (r *rendered) servicePorts(t *testing.T) []string {
	t.Helper()
	var svc corev1.Service
	r.one(t, "Service", fullname).decode(t, &svc)
	var out []string
	for _, p := range svc.Spec.Ports {
		out = append(out, p.Name+"="+strconv.Itoa(int(p.Port))+"->"+p.TargetPort.String())
	}
	return out
}

// TestConsoleOffByDefault: without console.ingress there is no console
// Ingress, and without config.console.listen_address no console port, even
// with the console itself on.
func TestConsoleOffByDefault(t *testing.T) {
	for name, values := range map[string]string{"defaults": "", "minimal": minimal, "console without ingress": consoleOn} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, values)
			for _, o := range r.find("Ingress") {
				t.Errorf("renders Ingress %s", o.name)
			}
			equal(t, "container ports", strings.Join(containerPorts(container(t, r.deployment(t))), " "), "http=8080")
			equal(t, "service ports", strings.Join(r.servicePorts(t), " "), "http=80->http")
		})
	}
}

// TestConsoleIngressOnMainListener: the console's own Ingress, on the host
// of public_url by default, to the Service's main port, with its class,
// annotations and TLS.
func TestConsoleIngressOnMainListener(t *testing.T) {
	r := mustRender(t, consoleOn+`console:
  ingress:
    enabled: true
    className: nginx-internal
    annotations: {nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8}
    tls: [{secretName: mcp-tls, hosts: [mcp.example.com]}]
`)
	ing := r.consoleIngress(t)
	equal(t, "className", ptrValue(ing.Spec.IngressClassName), any("nginx-internal"))
	equal(t, "annotation", ing.Annotations["nginx.ingress.kubernetes.io/whitelist-source-range"], "10.0.0.0/8")
	equal(t, "component label", ing.Labels["app.kubernetes.io/component"], "console")
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "mcp-tls" {
		t.Errorf("tls = %+v", ing.Spec.TLS)
	}
	equal(t, "routes", strings.Join(ingressRoutes(t, ing), "; "),
		"mcp.example.com /console Prefix -> 80; mcp.example.com /signin Prefix -> 80; mcp.example.com /signout Exact -> 80")
	equal(t, "container ports", strings.Join(containerPorts(container(t, r.deployment(t))), " "), "http=8080")
	equal(t, "service ports", strings.Join(r.servicePorts(t), " "), "http=80->http")
	if n := len(r.find("Ingress")); n != 1 {
		t.Errorf("%d Ingresses, want only the console's", n)
	}
	wantContains(t, "NOTES", r.files["templates/NOTES.txt"], "Console: https://mcp.example.com/console",
		"(through the Ingress gw-mcpgate-console)", "Register https://mcp.example.com/signin/callback as a redirect URI")
	if notes := mustRender(t, minimal).files["templates/NOTES.txt"]; strings.Contains(notes, "Console:") {
		t.Errorf("NOTES mention a console that is off:\n%s", notes)
	}

	// Hosts listed, and a service port of another number.
	r = mustRender(t, consoleOn+"service: {port: 8000}\nconsole: {ingress: {enabled: true, hosts: [mcp.example.com, mcp.corp.example], paths: [{path: /console, pathType: Prefix}]}}\n")
	equal(t, "routes with hosts", strings.Join(ingressRoutes(t, r.consoleIngress(t)), "; "),
		"mcp.example.com /console Prefix -> 8000; mcp.corp.example /console Prefix -> 8000")
}

// TestConsoleIngressBesideMainIngress: on a host the main Ingress serves
// with the same class, the console's Ingress claims only the paths the
// main one lacks (it routes /signin and /signout already with web sign-in);
// with another class it claims them all.
func TestConsoleIngressBesideMainIngress(t *testing.T) {
	const main = "ingress: {enabled: true, hosts: [mcp.example.com]}\n"
	for name, tc := range map[string]struct{ values, want string }{
		"same class": {main + "console: {ingress: {enabled: true}}\n",
			"mcp.example.com /console Prefix -> 80"},
		"same class, two hosts": {main + "console: {ingress: {enabled: true, hosts: [mcp.example.com, console.corp.example]}}\n",
			"mcp.example.com /console Prefix -> 80; console.corp.example /console Prefix -> 80; console.corp.example /signin Prefix -> 80; console.corp.example /signout Exact -> 80"},
		"another class": {main + "console: {ingress: {enabled: true, className: internal}}\n",
			"mcp.example.com /console Prefix -> 80; mcp.example.com /signin Prefix -> 80; mcp.example.com /signout Exact -> 80"},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, consoleOn+tc.values)
			equal(t, "routes", strings.Join(ingressRoutes(t, r.consoleIngress(t)), "; "), tc.want)
			var ing networkingv1.Ingress
			r.one(t, "Ingress", fullname).decode(t, &ing)
			var mainPaths []string
			for _, p := range ing.Spec.Rules[0].HTTP.Paths {
				mainPaths = append(mainPaths, p.Path)
			}
			if !slices.Contains(mainPaths, "/signin") || slices.Contains(mainPaths, "/console") {
				t.Errorf("main Ingress paths %v: want /signin (web sign-in) and no /console", mainPaths)
			}
		})
	}
}

// TestConsoleAdminListener: with config.console.listen_address the pod
// gets a console container port (the address's), the Service a console
// port, the Ingress targets it on the host of config.console.public_url,
// and the NetworkPolicy opens it; probes stay on the main port.
func TestConsoleAdminListener(t *testing.T) {
	r := mustRender(t, consoleAdmin+`console: {ingress: {enabled: true, className: internal}}
ingress: {enabled: true, hosts: [mcp.example.com]}
networkPolicy:
  enabled: true
  ingress:
    from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
    consoleFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-internal}}}]
`)
	c := container(t, r.deployment(t))
	equal(t, "container ports", strings.Join(containerPorts(c), " "), "http=8080 console=9443")
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		equal(t, name+" probe port", p.HTTPGet.Port.String(), "http")
	}
	equal(t, "service ports", strings.Join(r.servicePorts(t), " "), "http=80->http console=9090->console")
	equal(t, "routes", strings.Join(ingressRoutes(t, r.consoleIngress(t)), "; "),
		"mcpgate-admin.example.com /console Prefix -> console; mcpgate-admin.example.com /signin Prefix -> console; mcpgate-admin.example.com /signout Exact -> console")
	// The main Ingress still goes to the main port.
	var ing networkingv1.Ingress
	r.one(t, "Ingress", fullname).decode(t, &ing)
	equal(t, "main Ingress port", ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number, 80)
	wantContains(t, "NOTES", r.files["templates/NOTES.txt"], "Console: https://mcpgate-admin.example.com/console",
		"port console of svc/gw-mcpgate", "Register https://mcpgate-admin.example.com/signin/callback as a redirect URI")
	cfg := r.gatewayConfig(t)
	equal(t, "config console.listen_address", lookup(t, cfg, "console", "listen_address"), any("0.0.0.0:9443"))
	equal(t, "config listen", cfg["listen"], any("0.0.0.0:8080"))

	var np networkingv1.NetworkPolicy
	r.one(t, "NetworkPolicy", fullname).decode(t, &np)
	if len(np.Spec.Ingress) != 2 {
		t.Fatalf("NetworkPolicy ingress %+v: want the main port's rule and the console's", np.Spec.Ingress)
	}
	rule := np.Spec.Ingress[1]
	if len(rule.Ports) != 1 || rule.Ports[0].Port.String() != "console" || len(rule.From) != 1 ||
		rule.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-internal" {
		t.Errorf("console rule %+v: want the console port from consoleFrom", rule)
	}
	if p := np.Spec.Ingress[0].Ports; len(p) != 1 || p[0].Port.String() != "http" {
		t.Errorf("main rule ports %+v: want http only", p)
	}

	// consoleFrom empty: the peers of from; both empty: any source.
	np = networkingv1.NetworkPolicy{}
	mustRender(t, consoleAdmin+"networkPolicy: {enabled: true, ingress: {from: [{podSelector: {matchLabels: {app: proxy}}}]}}\n").
		one(t, "NetworkPolicy", fullname).decode(t, &np)
	if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[1].From) != 1 || np.Spec.Ingress[1].From[0].PodSelector.MatchLabels["app"] != "proxy" {
		t.Errorf("console rule without consoleFrom %+v: want the peers of from", np.Spec.Ingress)
	}
	np = networkingv1.NetworkPolicy{}
	mustRender(t, consoleAdmin+"networkPolicy: {enabled: true}\n").one(t, "NetworkPolicy", fullname).decode(t, &np)
	if len(np.Spec.Ingress) != 2 || np.Spec.Ingress[1].From != nil || np.Spec.Ingress[1].Ports[0].Port.String() != "console" {
		t.Errorf("console rule without peers %+v: want the console port open to any source", np.Spec.Ingress)
	}
	// The console on the main listener opens no other port.
	np = networkingv1.NetworkPolicy{}
	mustRender(t, consoleOn+"networkPolicy: {enabled: true}\n").one(t, "NetworkPolicy", fullname).decode(t, &np)
	if len(np.Spec.Ingress) != 1 {
		t.Errorf("NetworkPolicy ingress on the main listener %+v: want the main port's rule only", np.Spec.Ingress)
	}

	// Another service port, an IPv6 wildcard address, no Ingress.
	r = mustRender(t, strings.Replace(consoleAdmin, "0.0.0.0:9443", "'[::]:9000'", 1)+"service: {consolePort: 8443}\n")
	equal(t, "container ports (IPv6)", strings.Join(containerPorts(container(t, r.deployment(t))), " "), "http=8080 console=9000")
	equal(t, "service ports (consolePort)", strings.Join(r.servicePorts(t), " "), "http=80->http console=8443->console")
	if n := len(r.find("Ingress")); n != 0 {
		t.Errorf("%d Ingresses with console.ingress off", n)
	}
}

// TestConsoleChecks: values the gateway or the cluster would trip over
// later are refused at render, naming the value and what to do.
func TestConsoleChecks(t *testing.T) {
	const ingressOn = "console: {ingress: {enabled: true}}\n"
	for name, tc := range map[string]struct{ values, want string }{
		"ingress without the console": {minimal + ingressOn,
			"console.ingress.enabled is true but config.console.enabled is not"},
		"console without web sign-in": {minimal + "  console: {enabled: true}\n",
			"config.console.enabled is true but config.web_sign_in.enabled is not"},
		"listen_address without public_url": {consoleOn + "    listen_address: 0.0.0.0:9443\n",
			"config.console.listen_address is set but config.console.public_url is not"},
		"loopback listen_address": {strings.Replace(consoleAdmin, "0.0.0.0:9443", "127.0.0.1:9443", 1),
			`config.console.listen_address: "127.0.0.1:9443" is a loopback address`},
		"localhost listen_address": {strings.Replace(consoleAdmin, "0.0.0.0:9443", "localhost:9443", 1),
			`config.console.listen_address: "localhost:9443" is a loopback address`},
		"IPv6 loopback listen_address": {strings.Replace(consoleAdmin, "0.0.0.0:9443", "'[::1]:9443'", 1),
			`config.console.listen_address: "[::1]:9443" is a loopback address`},
		"listen_address on the main port": {strings.Replace(consoleAdmin, "0.0.0.0:9443", "0.0.0.0:8080", 1),
			"config.console.listen_address: port 8080 is containerPort"},
		"ingress without a host": {strings.Replace(consoleOn, "  public_url: https://mcp.example.com\n", "", 1) + ingressOn,
			"console.ingress.enabled is true but the console has no public host: set config.public_url"},
		"ingress hosts without the public_url host": {consoleOn + "console: {ingress: {enabled: true, hosts: [console.corp.example]}}\n",
			"console.ingress.hosts (console.corp.example) does not include mcp.example.com, the host of config.public_url"},
		"admin ingress hosts without its host": {consoleAdmin + "console: {ingress: {enabled: true, hosts: [console.corp.example]}}\n",
			"console.ingress.hosts (console.corp.example) does not include mcpgate-admin.example.com, the host of config.console.public_url"},
		"admin listener on the main Ingress's host": {strings.Replace(consoleAdmin, "https://mcpgate-admin.example.com", "https://mcp.example.com", 1) +
			ingressOn + "ingress: {enabled: true, hosts: [mcp.example.com]}\n",
			"console.ingress: host mcp.example.com is also in ingress.hosts, with the same ingress class"},
		"every path routed already": {consoleOn + "ingress: {enabled: true, hosts: [mcp.example.com]}\nconsole: {ingress: {enabled: true, paths: [{path: /signin, pathType: Prefix}]}}\n",
			"console.ingress: every path of console.ingress.paths is routed by the main Ingress already"},
	} {
		t.Run(name, func(t *testing.T) {
			msg := renderError(t, tc.values)
			if strings.Contains(msg, "values don't meet the specifications of the schema") {
				t.Errorf("refused by the schema, not the template: %s", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message does not contain %q:\n%s", tc.want, msg)
			}
		})
	}
	for name, tc := range map[string]struct{ values, want string }{
		"listen_address without a port":  {consoleOn + "    listen_address: 0.0.0.0\n", "at '/config/console/listen_address'"},
		"console public_url with a path": {consoleOn + "    public_url: https://a.example/admin\n", "at '/config/console/public_url'"},
		"recent_decisions out of range":  {consoleOn + "    recent_decisions: 300000\n", "at '/config/console/recent_decisions': maximum"},
		"typo in console.ingress":        {"console: {ingress: {enable: true}}", "at '/console/ingress': additional properties 'enable' not allowed"},
		"bad console path type":          {"console: {ingress: {paths: [{path: /console, pathType: Regex}]}}", "at '/console/ingress/paths/0/pathType'"},
		"console port as a string":       {"service: {consolePort: '9090'}", "at '/service/consolePort': got string, want integer"},
	} {
		t.Run("schema: "+name, func(t *testing.T) {
			msg := renderError(t, tc.values)
			if !strings.Contains(msg, "values don't meet the specifications of the schema") || !strings.Contains(msg, tc.want) {
				t.Errorf("want the schema's refusal containing %q:\n%s", tc.want, msg)
			}
		})
	}
}
