package devidp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDevToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	status, hdr, body := h.postForm(t, h.srv.URL+"/dev/token", url.Values{"user": {"bob"}})
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q: %s", status, hdr.Get("Content-Type"), body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	tok, _ := got["access_token"].(string)
	if diff := cmp.Diff(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": float64(3600)}, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	claims := h.verifyClaims(t, tok)
	if claims["sub"] != "bob" || claims["azp"] != DevClientID {
		t.Errorf("claims sub %v azp %v", claims["sub"], claims["azp"])
	}
}

func TestDevTokenErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := map[string]struct {
		method, query, body string
		wantStatus          int
		wantUsers           bool // the error lists the demo users
	}{
		"unknown user":       {http.MethodPost, "", "user=eve", http.StatusBadRequest, true},
		"no user":            {http.MethodPost, "", "", http.StatusBadRequest, true},
		"user in query only": {http.MethodPost, "?user=alice", "", http.StatusBadRequest, true},
		"two users":          {http.MethodPost, "", "user=alice&user=carol", http.StatusBadRequest, false},
		"GET":                {http.MethodGet, "?user=alice", "", http.StatusMethodNotAllowed, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.srv.URL+"/dev/token"+tc.query, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, hdr, body := h.do(t, req)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if status == http.StatusMethodNotAllowed {
				if hdr.Get("Allow") != http.MethodPost {
					t.Errorf("Allow = %q", hdr.Get("Allow"))
				}
				return
			}
			var e struct {
				Error string   `json:"error"`
				Users []string `json:"users"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Error != "invalid_request" {
				t.Errorf("error = %q", e.Error)
			}
			if tc.wantUsers && !cmp.Equal(e.Users, []string{"alice", "bob", "carol", "mallory"}) {
				t.Errorf("users = %v, want the demo users", e.Users)
			}
		})
	}
}

// Both handlers refuse peers that are not on loopback.
func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	handlers := map[string]http.Handler{"provider": h.p.Handler(), "dev token": h.p.DevTokenHandler()}
	for name, handler := range handlers {
		t.Run(name, func(t *testing.T) {
			for _, remote := range []string{"192.0.2.1:1234", "[2001:db8::1]:1234", "garbage"} {
				req := httptest.NewRequest(http.MethodPost, "/dev/token", strings.NewReader("user=alice"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.RemoteAddr = remote
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusForbidden {
					t.Errorf("remote %s: status %d, want 403", remote, rec.Code)
				}
			}
		})
	}
}
