package dex

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Dex's login page of the local connector (the password database), as a
// scripted browser reads it.
var (
	loginFormRE  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	loginInputRE = regexp.MustCompile(`name="login"`)
)

// maxSignInHops bounds the requests SignIn makes.
const maxSignInHops = 10

// SignIn does in Dex what a person does in a browser: it opens
// authorizeURL (Dex's authorization endpoint, or a relying party's URL
// that redirects there, such as a federating authorization server's),
// follows the redirects to the local connector's login page, fills in
// login (the user's Email) and password, and submits. It returns the
// first redirect that leaves Dex — to the relying party's redirect URI,
// with code and state — without following it.
//
// c must not follow redirects (CheckRedirect returning
// http.ErrUseLastResponse) and should keep cookies, as a browser does,
// for the relying party's own. StartDex configures one connector and no
// approval screen, so there is no connector choice and nothing to approve
// after the login. It returns errors rather than failing a test, so that
// it can run inside an OAuth client's callback.
func (d *Dex) SignIn(ctx context.Context, c *http.Client, authorizeURL, login, password string) (*url.URL, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, err
	}
	posted := false
	for range maxSignInHops {
		resp, body, err := d.signInStep(ctx, c, u, posted, login, password)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode <= 399:
			next, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("dex sign-in: %s %s: status %d without Location", resp.Request.Method, u, resp.StatusCode)
			}
			if d.onDex(u) && !d.onDex(next) {
				return next, nil
			}
			u, posted = next, false
		case posted && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized):
			return nil, fmt.Errorf("dex sign-in: login %s refused (wrong password?): the login page came back with status %d", login, resp.StatusCode)
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("dex sign-in: %s %s: status %d: %s", resp.Request.Method, u, resp.StatusCode, body)
		default:
			m := loginFormRE.FindSubmatch(body)
			if m == nil || !d.onDex(u) || !loginInputRE.Match(body) {
				return nil, fmt.Errorf("dex sign-in: GET %s: not Dex's login page: %s", u, body)
			}
			if u, err = u.Parse(html.UnescapeString(string(m[1]))); err != nil {
				return nil, err
			}
			posted = true
		}
	}
	return nil, fmt.Errorf("dex sign-in: more than %d requests without leaving Dex", maxSignInHops)
}

// signInStep GETs u, or POSTs the login form to it, and returns the
// response with its body (closed).
func (d *Dex) signInStep(ctx context.Context, c *http.Client, u *url.URL, post bool, login, password string) (*http.Response, []byte, error) {
	var req *http.Request
	if post {
		form := url.Values{"login": {login}, "password": {password}}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.Request.URL.String() != u.String() {
		return nil, nil, errors.New("dex sign-in: the HTTP client follows redirects: give it a CheckRedirect returning http.ErrUseLastResponse")
	}
	return resp, body, nil
}

// onDex reports whether u is one of Dex's pages.
func (d *Dex) onDex(u *url.URL) bool {
	return strings.HasPrefix(u.String(), d.Issuer+"/")
}
