package websession

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

// maxCookieValue bounds a cookie's value: browsers keep name and value of
// up to 4096 bytes, and the name and attributes need some room.
const maxCookieValue = 3800

// cookieNames are the two cookies: the session, and the sign-ins under
// way in this browser.
type cookieNames struct {
	session, signIn string
}

// newCookieNames uses the __Host- prefix on https: the browser then
// insists on Secure, Path=/ and no Domain, so no other host can set or
// shadow the cookie. Browsers refuse the prefix on plain http (local
// development on loopback), where the names go without it.
func newCookieNames(secure bool, name string) cookieNames {
	prefix := ""
	if secure {
		prefix = "__Host-"
	}
	return cookieNames{session: prefix + name + "-session", signIn: prefix + name + "-signin"}
}

// additionalData binds a sealed cookie to its name and this gateway: a
// sign-in cookie is not a session, and another deployment sharing the
// keys does not accept this one's cookies.
func (m *Manager) additionalData(name string) []byte {
	return []byte("mcpgate web cookie\x00" + name + "\x00" + m.opts.BaseURL)
}

// sealCookie returns v sealed for cookie name, or ok false when it does
// not fit in a cookie.
func (m *Manager) sealCookie(name string, v any) (value string, ok bool, err error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", false, err
	}
	if base64.RawURLEncoding.EncodedLen(len(plain)+m.box.Overhead()) > maxCookieValue {
		return "", false, nil
	}
	sealed, err := m.box.Seal(plain, m.additionalData(name))
	if err != nil {
		return "", false, err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), true, nil
}

// openCookie reads cookie name into v. A missing, oversized, tampered
// cookie, or one sealed by a key no longer in the ring, is absent.
func (m *Manager) openCookie(r *http.Request, name string, v any) bool {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > maxCookieValue {
		return false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil {
		return false
	}
	plain, err := m.box.Open(raw, m.additionalData(name))
	if err != nil {
		return false
	}
	return json.Unmarshal(plain, v) == nil
}

func (m *Manager) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		Secure: m.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (m *Manager) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		Secure: m.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
