package telemetry

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

func TestIdentityAttr(t *testing.T) {
	t.Parallel()
	const iss, sub = "https://idp.example", "alice"
	hashed := hashIdentity(iss, sub)
	tests := map[string]struct {
		mode    IdentityMode
		subject string
		want    attribute.KeyValue
		wantOK  bool
	}{
		"off":           {mode: IdentityOff, subject: sub},
		"empty mode":    {mode: "", subject: sub},
		"unknown mode":  {mode: "everything", subject: sub},
		"hashed":        {mode: IdentityHashed, subject: sub, want: attribute.String("enduser.pseudo.id", hashed), wantOK: true},
		"subject":       {mode: IdentitySubject, subject: sub, want: attribute.String("enduser.id", sub), wantOK: true},
		"empty subject": {mode: IdentitySubject},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := IdentityAttr(tc.mode, iss, tc.subject)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("IdentityAttr = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestHashIdentity(t *testing.T) {
	t.Parallel()
	h := hashIdentity("https://idp.example", "alice")
	if len(h) != 16 {
		t.Errorf("len = %d, want 16", len(h))
	}
	if h == hashIdentity("https://other.example", "alice") {
		t.Error("same hash for different issuers")
	}
	if hashIdentity("ab", "c") == hashIdentity("a", "bc") {
		t.Error("issuer/subject boundary is ambiguous")
	}
}

func TestIdentityModeValid(t *testing.T) {
	t.Parallel()
	for mode, want := range map[IdentityMode]bool{"": true, "off": true, "hashed": true, "subject": true, "Hashed": false} {
		if got := mode.Valid(); got != want {
			t.Errorf("%q.Valid() = %v, want %v", mode, got, want)
		}
	}
}
