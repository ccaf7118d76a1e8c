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

// DevSignIn does what a person does in a browser: open the authorize URL, pick
// user on the page, and submit. It returns the redirect the provider answers
// with. It runs outside the test goroutine too, so it returns errors.
func DevSignIn(ctx context.Context, c *http.Client, authorizeURL, user string) (*url.URL, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET authorize: status %d: %s", resp.StatusCode, page)
	}
	f, err := ParseDevSignIn(authorizeURL, page)
	if err != nil {
		return nil, err
	}
	f.Fields.Set("user", user)
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, f.Action.String(), strings.NewReader(f.Fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("POST authorize: status %d", resp.StatusCode)
	}
	return url.Parse(resp.Header.Get("Location"))
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
