package safehttp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	type want struct {
		reason  string // "" for a public address
		private bool
	}
	tests := map[string]want{
		// public
		"93.184.215.14":        {},
		"8.8.8.8":              {},
		"2606:4700:4700::1111": {},
		"64:ff9b::808:808":     {}, // NAT64 of 8.8.8.8
		"2002:808:808::1":      {}, // 6to4 of 8.8.8.8
		"100.63.255.255":       {}, // just below CGNAT
		"100.128.0.0":          {}, // just above CGNAT
		"172.32.0.1":           {}, // just above 172.16/12
		"11.0.0.1":             {},
		"223.255.255.255":      {},

		// IPv4 special use
		"0.0.0.0":         {"unspecified address", false},
		"0.1.2.3":         {`"this network" address`, false},
		"10.0.0.1":        {"private address (RFC 1918)", true},
		"172.16.0.1":      {"private address (RFC 1918)", true},
		"172.31.255.255":  {"private address (RFC 1918)", true},
		"192.168.1.1":     {"private address (RFC 1918)", true},
		"100.64.0.1":      {"shared address space (CGNAT", true},
		"100.127.255.255": {"shared address space (CGNAT", true},
		"127.0.0.1":       {"loopback address", true},
		"127.255.255.254": {"loopback address", true},
		"169.254.0.1":     {"link-local address", false},
		"169.254.169.254": {"cloud metadata service address", false},
		"100.100.100.200": {"cloud metadata service address", false},
		"192.0.0.8":       {"IETF protocol assignment", false},
		"192.0.2.1":       {"documentation address", false},
		"198.51.100.7":    {"documentation address", false},
		"203.0.113.9":     {"documentation address", false},
		"198.18.0.1":      {"benchmarking address", false},
		"198.19.255.255":  {"benchmarking address", false},
		"224.0.0.1":       {"multicast address", false},
		"239.255.255.250": {"multicast address", false},
		"240.0.0.1":       {"reserved address", false},
		"255.255.255.255": {"broadcast address", false},

		// IPv6 special use
		"::":                {"unspecified address", false},
		"::1":               {"loopback address", true},
		"::127.0.0.1":       {"IPv4-compatible address", false},
		"fc00::1":           {"unique local address", true},
		"fd12:3456::1":      {"unique local address", true},
		"fd00:ec2::254":     {"cloud metadata service address", false},
		"fe80::1":           {"link-local address", false},
		"fe80::1%eth0":      {"link-local address", false},
		"febf::1":           {"link-local address", false},
		"fec0::1":           {"site-local address", false},
		"ff02::1":           {"multicast address", false},
		"2001:db8::1":       {"documentation address", false},
		"3fff::1":           {"documentation address", false},
		"2001::1":           {"Teredo address", false},
		"2001:10::1":        {"IETF protocol assignment", false},
		"100::1":            {"discard-only address", false},
		"64:ff9b:1::a00:1":  {"local-use IPv4/IPv6 translation address", false},
		"5f00::1":           {"segment routing", false},
		"fd00:ec2::253":     {"unique local address", true},
		"fd00:ec2::254%eth": {"cloud metadata service address", false},

		// IPv4 embedded in IPv6
		"::ffff:127.0.0.1":       {"loopback address 127.0.0.1 in IPv4-mapped form", true},
		"::ffff:10.0.0.1":        {"private address (RFC 1918) 10.0.0.1 in IPv4-mapped form", true},
		"::ffff:169.254.169.254": {"cloud metadata service address 169.254.169.254 in IPv4-mapped form", false},
		"::ffff:0.0.0.0":         {"unspecified address 0.0.0.0 in IPv4-mapped form", false},
		"::ffff:0:127.0.0.1":     {"loopback address 127.0.0.1 in IPv4-translated form", true},
		"::ffff:0:192.168.0.1":   {"private address (RFC 1918) 192.168.0.1 in IPv4-translated form", true},
		"64:ff9b::127.0.0.1":     {"loopback address 127.0.0.1 in NAT64 form", true},
		"64:ff9b::a9fe:a9fe":     {"cloud metadata service address 169.254.169.254 in NAT64 form", false},
		"2002:7f00:1::":          {"loopback address 127.0.0.1 in 6to4 form", true},
		"2002:a00:1::1":          {"private address (RFC 1918) 10.0.0.1 in 6to4 form", true},
		"2002:e000:1::1":         {"multicast address 224.0.0.1 in 6to4 form", false},
	}
	for in, tt := range tests {
		reason, private := classify(netip.MustParseAddr(in))
		switch {
		case tt.reason == "" && reason != "":
			t.Errorf("classify(%s) = %q, want a public address", in, reason)
		case !strings.HasPrefix(reason, tt.reason):
			t.Errorf("classify(%s) = %q, want %q", in, reason, tt.reason)
		case private != tt.private:
			t.Errorf("classify(%s): private = %v, want %v", in, private, tt.private)
		}
	}
	if reason, _ := classify(netip.Addr{}); reason == "" {
		t.Error("classify accepted the zero Addr")
	}
}

// The Control hook refuses by the address being connected to, with the
// private-network exception only when asked for. (Called directly: a
// regression must not connect anywhere off this machine.)
func TestControl(t *testing.T) {
	t.Parallel()
	strict, insecure := newClient(nil, nil), newClient(&Options{InsecureAllowPrivateNetworks: true}, nil)
	tests := map[string]struct{ strict, insecure string }{
		"tcp4 93.184.215.14:443":     {"", ""},
		"tcp6 [2606:4700::1111]:443": {"", ""},
		"tcp4 127.0.0.1:443":         {"refusing to connect to 127.0.0.1:443: loopback address", ""},
		"tcp6 [::1]:8443":            {"refusing to connect to [::1]:8443: loopback address", ""},
		"tcp4 10.1.2.3:443":          {"private address (RFC 1918)", ""},
		"tcp6 [fd12::1]:443":         {"unique local address", ""},
		"tcp4 169.254.169.254:80":    {"refusing to connect to 169.254.169.254:80: cloud metadata service address", "cloud metadata service address"},
		"tcp6 [fd00:ec2::254]:80":    {"cloud metadata service address", "cloud metadata service address"},
		"tcp6 [fe80::1%eth0]:443":    {"refusing to connect to [fe80::1%eth0]:443: link-local address", "link-local address"},
		"tcp4 0.0.0.0:443":           {"unspecified address", "unspecified address"},
		"tcp4 224.0.0.1:443":         {"multicast address", "multicast address"},
		"udp4 93.184.215.14:53":      {"network udp4 is not TCP", "network udp4 is not TCP"},
		"tcp4 example.com:443":       {"not an IP address and port", "not an IP address and port"},
	}
	for in, tt := range tests {
		network, address, _ := strings.Cut(in, " ")
		for _, c := range []struct {
			name   string
			client *Client
			want   string
		}{{"strict", strict, tt.strict}, {"insecure", insecure, tt.insecure}} {
			err := c.client.control(t.Context(), network, address, nil)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s: control(%s) = %v, want nil", c.name, in, err)
			case c.want != "" && (!errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s: control(%s) = %v, want ErrForbiddenAddress saying %q", c.name, in, err, c.want)
			}
		}
	}
}

// Every IPv4 address is classified alike in each IPv6 form that carries it.
func FuzzClassifyEmbedded(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "169.254.169.254", "8.8.8.8", "0.0.0.0", "255.255.255.255"} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 {
			return
		}
		v4 := netip.AddrFrom4([4]byte(b))
		wantReason, wantPrivate := classify(v4)
		var mapped, trans, nat, six [16]byte
		mapped[10], mapped[11] = 0xff, 0xff
		trans[8], trans[9] = 0xff, 0xff
		nat[0], nat[1], nat[2], nat[3] = 0x00, 0x64, 0xff, 0x9b
		six[0], six[1] = 0x20, 0x02
		copy(mapped[12:], b)
		copy(trans[12:], b)
		copy(nat[12:], b)
		copy(six[2:6], b)
		for _, a := range [][16]byte{mapped, trans, nat, six} {
			addr := netip.AddrFrom16(a)
			reason, private := classify(addr)
			if (reason == "") != (wantReason == "") || private != wantPrivate || !strings.HasPrefix(reason, wantReason) {
				t.Errorf("classify(%s) = %q, %v; classify(%s) = %q, %v", addr, reason, private, v4, wantReason, wantPrivate)
			}
		}
	})
}
