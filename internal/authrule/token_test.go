package authrule

import (
	"strings"
	"testing"
)

func TestCheckAlgorithm(t *testing.T) {
	t.Parallel()
	for alg, want := range map[string]string{
		"RS256": "", "EdDSA": "", "HS512": "",
		"none": `"none" is never accepted`, "NONE": `"none" is never accepted`,
		"XS1": `"XS1" is not supported`, "hs256": "not supported",
	} {
		err := CheckAlgorithm(alg)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("CheckAlgorithm(%q) = %v, want %q", alg, err, want)
		}
	}
	for _, alg := range DefaultAlgorithms() {
		if err := CheckAlgorithm(alg); err != nil || HMACKeySize(alg) != 0 {
			t.Errorf("default algorithm %s: %v, HMAC key size %d", alg, err, HMACKeySize(alg))
		}
	}
}
