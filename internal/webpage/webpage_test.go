package webpage

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRender(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	tmpl := template.Must(template.New("").Parse(`<p>{{.}}</p>`))
	if err := Render(rec, http.StatusTeapot, tmpl, "<script>"); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusTeapot || rec.Body.String() != "<p>&lt;script&gt;</p>" {
		t.Errorf("Render = %d %q", rec.Code, rec.Body)
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	rec = httptest.NewRecorder()
	bad := template.Must(template.New("").Parse(`<p>{{.Missing}}</p>`))
	if err := Render(rec, http.StatusOK, bad, 1); err == nil || rec.Code != http.StatusInternalServerError {
		t.Errorf("failing template: %v, %d", err, rec.Code)
	}
}
