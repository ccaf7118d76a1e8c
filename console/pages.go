package console

import (
	"html/template"
	"strings"
	"time"
)

// pageNames are the templates of templates/, each executed in the layout.
var pageNames = []string{"error", "servers", "server", "explorer", "matrix", "decisions", "policy"}

// parsePages parses each page with the layout.
func (c *Console) parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"fmtTime":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"fmtClock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"fmtISO":   func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"join":     strings.Join,
		"traceURL": c.traceURL,
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// traceURL links a trace id, or is "" without Options.TraceURL.
func (c *Console) traceURL(traceID string) string {
	if c.opts.TraceURL == "" || traceID == "" {
		return ""
	}
	return strings.ReplaceAll(c.opts.TraceURL, "{trace_id}", traceID)
}
