package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes, written in YAML as an integer or as a
// string with a unit: B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB
// (powers of 1000), e.g. "512KiB" or "4MiB".
type ByteSize int64

// byteUnits maps lower-cased unit suffixes to their multipliers.
var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
}

// ParseByteSize parses a byte count such as "4194304", "512KiB" or "1MB".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	mult, ok := byteUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if i == 0 || !ok {
		return 0, fmt.Errorf("%q is not a byte size (use e.g. 4194304, 512KiB, 4MiB)", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large a byte size", s)
	}
	return ByteSize(n * mult), nil
}

// String formats b with the largest binary unit that divides it exactly.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML decodes an integer or a size string. A negative integer
// is accepted here and rejected by validation with its rule.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == nullTag {
		return fmt.Errorf("must be a byte size (use e.g. 4194304, 512KiB, 4MiB), got %s", describe(n))
	}
	if n.ShortTag() == intTag {
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			*b = ByteSize(v)
			return nil
		}
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML encodes b in the form [ByteSize.String] returns.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }
