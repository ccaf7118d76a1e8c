// Package webpage writes the gateway's own HTML pages (sign-in, consent,
// grants, connections) with the headers each of them needs: not framed,
// not cached, no scripts, no content sniffing. It owns no page content.
package webpage

import (
	"bytes"
	"html/template"
	"net/http"
)

// Render executes t with data and writes the page with status. If the
// template fails, nothing of it is written: the answer is 500 and the
// error is returned for the caller to log.
//
// The Content-Security-Policy has no form-action: browsers apply it to the
// redirect that follows a form post, which may leave for another site (a
// client's redirect URI). The Referrer-Policy is same-origin, not
// no-referrer, which would make browsers send "Origin: null" with form
// posts and fail their cross-origin checks.
func Render(w http.ResponseWriter, status int, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "internal error: render page", http.StatusInternalServerError)
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}
