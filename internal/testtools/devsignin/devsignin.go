package devsignin

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The sign-in page of the development identity provider (authn/devidp), as a
// scripted browser reads it: tests of the OAuth flow use it where a person
// would click.
var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	userRE   = regexp.MustCompile(`<button type="submit" name="user" value="([^"]*)">`)
)

// DevSignInForm is the sign-in page as a browser would read it.
type DevSignInForm struct {
	Action *url.URL
	Fields url.Values
	Users  []string
}

// ParseDevSignIn reads the sign-in form of an authorize page fetched from pageURL.
func ParseDevSignIn(pageURL string, page []byte) (*DevSignInForm, error) {
	m := formRE.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no sign-in form in %q", page)
	}
	base, err := url.Parse(pageURL)
	if err != nil {
		return nil, err
	}
	action, err := base.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return nil, err
	}
	f := &DevSignInForm{Action: action, Fields: url.Values{}}
	for _, m := range hiddenRE.FindAllSubmatch(page, -1) {
		f.Fields.Add(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	for _, m := range userRE.FindAllSubmatch(page, -1) {
		f.Users = append(f.Users, html.UnescapeString(string(m[1])))
	}
	return f, nil
}

// maxRedirects bounds the redirects DevSignIn follows to the sign-in page.
const maxRedirects = 10

// DevSignIn does what a person does in a browser: open the authorize URL,
// pick user on the page, and submit. The authorize URL may redirect to the
// page (a relying party's login link, or an authorization server that
// federates to the provider): those redirects are followed even with a
// client that does not follow redirects. It returns the redirect the
// provider answers the sign-in with, which c must not follow. It runs
// outside the test goroutine too, so it returns errors.
func DevSignIn(ctx context.Context, c *http.Client, authorizeURL, user string) (*url.URL, error) {
	pageURL, page, err := fetchSignInPage(ctx, c, authorizeURL)
	if err != nil {
		return nil, err
	}
	f, err := ParseDevSignIn(pageURL, page)
	if err != nil {
		return nil, err
	}
	f.Fields.Set("user", user)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.Action.String(), strings.NewReader(f.Fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("POST authorize: status %d: %s", resp.StatusCode, body)
	}
	return url.Parse(resp.Header.Get("Location"))
}

// fetchSignInPage GETs u, following redirects as a browser would, and
// returns the sign-in page with its URL.
func fetchSignInPage(ctx context.Context, c *http.Client, u string) (string, []byte, error) {
	for range maxRedirects + 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", nil, err
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc, _ := resp.Location()
		switch {
		case resp.StatusCode == http.StatusOK:
			return resp.Request.URL.String(), page, nil
		case resp.StatusCode < 300 || resp.StatusCode > 399 || loc == nil:
			return "", nil, fmt.Errorf("GET %s: status %d: %s", u, resp.StatusCode, page)
		}
		u = loc.String()
	}
	return "", nil, fmt.Errorf("GET authorize: more than %d redirects", maxRedirects)
}

// devCallback is DevOAuthHandler's redirect URI: a loopback port nobody
// listens on, since the scripted browser stops at the redirect.
const devCallback = "http://127.0.0.1:9/callback"

// DevOAuthHandler is go-sdk's own OAuth client (dynamic client registration,
// authorization code with PKCE) whose "browser" signs in to the development
// identity provider as user, directly or through the gateway's
// authorization server (consenting on its page), with c (which must keep
// cookies and must not follow the final redirect to the client's
// callback). *signIns counts the sign-ins.
func DevOAuthHandler(c *http.Client, user, clientName string, signIns *atomic.Int32) (*auth.AuthorizationCodeHandler, error) {
	return auth.NewAuthorizationCodeHandler(DevOAuthConfig(c, user, clientName, signIns))
}

// DevOAuthConfig is DevOAuthHandler's configuration, for a test to adjust
// (a ScopeFilter, say) before auth.NewAuthorizationCodeHandler.
func DevOAuthConfig(c *http.Client, user, clientName string, signIns *atomic.Int32) *auth.AuthorizationCodeHandlerConfig {
	return &auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{devCallback}, ClientName: clientName},
		},
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			signIns.Add(1)
			loc, err := DevSignIn(ctx, c, args.URL, user)
			if err != nil {
				return nil, err
			}
			if loc, err = FollowToClient(ctx, c, loc, devCallback, "allow"); err != nil {
				return nil, err
			}
			q := loc.Query()
			if e := q.Get("error"); e != "" {
				return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
			}
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	}
}

// consentRE finds the consent id of the gateway's consent page.
var consentRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// consentActionRE finds the consent form's action.
var consentActionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// FollowToClient continues a sign-in after the identity provider answered
// with loc, through a federating authorization server (the gateway in
// authorization-server mode): it follows redirects and, on the gateway's
// consent page, answers decision ("allow" or "deny"), until a redirect
// reaches a URL starting with clientRedirect, which it returns without
// following. c must keep cookies (a jar) and must not follow redirects.
// When loc is already the client's redirect it is returned as is.
func FollowToClient(ctx context.Context, c *http.Client, loc *url.URL, clientRedirect, decision string) (*url.URL, error) {
	for range maxRedirects + 1 {
		if strings.HasPrefix(loc.String(), clientRedirect) {
			return loc, nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode <= 399:
			next, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("GET %s: status %d without Location", loc, resp.StatusCode)
			}
			loc = next
			continue
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("GET %s: status %d: %s", loc, resp.StatusCode, page)
		}
		id, action := consentRE.FindSubmatch(page), consentActionRE.FindSubmatch(page)
		if id == nil || action == nil {
			return nil, fmt.Errorf("GET %s: a page that is no consent page: %s", loc, page)
		}
		target, err := loc.Parse(html.UnescapeString(string(action[1])))
		if err != nil {
			return nil, err
		}
		form := url.Values{"consent": {html.UnescapeString(string(id[1]))}, "decision": {decision}}
		post, _ := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(form.Encode()))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.Header.Set("Origin", target.Scheme+"://"+target.Host) // as a browser posting its own page's form
		resp, err = c.Do(post)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			return nil, fmt.Errorf("POST consent: status %d: %s", resp.StatusCode, body)
		}
		if loc, err = resp.Location(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("sign-in: more than %d redirects before the client's %s", maxRedirects, clientRedirect)
}
