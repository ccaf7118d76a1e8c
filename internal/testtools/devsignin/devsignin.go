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

// DevOAuthHandler is go-sdk's own OAuth client (dynamic client registration,
// authorization code with PKCE) whose "browser" signs in to the development
// identity provider as user, with c (which must not follow the final
// redirect to the client's callback). *signIns counts the sign-ins.
func DevOAuthHandler(c *http.Client, user, clientName string, signIns *atomic.Int32) (*auth.AuthorizationCodeHandler, error) {
	return auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{"http://127.0.0.1:9/callback"}, ClientName: clientName},
		},
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			signIns.Add(1)
			loc, err := DevSignIn(ctx, c, args.URL, user)
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			if e := q.Get("error"); e != "" {
				return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
			}
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
}
