// Package safehttp fetches documents at URLs that someone outside the
// organisation may choose, such as an OAuth client's metadata document,
// without letting that someone reach the gateway's own network (SSRF).
//
// It owns:
//   - the HTTP client (client.go): https only, on the first URL and on every
//     redirect; a capped number of redirects; one deadline over the whole
//     fetch, body included; a body size limit that fails instead of
//     truncating; no proxy from the environment;
//   - the address rules (address.go): which IP addresses a fetch may
//     connect to. They are applied in the dialer's Control hook, to the
//     address actually being connected to, after DNS resolution: a name
//     that resolves (or rebinds) to a private address and a redirect to one
//     are refused alike, before any packet is sent.
//
// It must not:
//   - connect to a loopback, private, link-local, multicast or otherwise
//     special-use address (RFC 6890) unless the caller set
//     Options.InsecureAllowPrivateNetworks, which is for tests and local
//     development only, and even then never to link-local addresses or a
//     cloud metadata service;
//   - send anything the caller did not give it: no cookies, no credentials,
//     no proxy;
//   - decide what a document means: callers check status, content type and
//     content.
package safehttp
