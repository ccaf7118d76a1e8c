// Package sealbox seals small values with AES-256-GCM under a key ring, for
// state the gateway hands to clients and must get back unchanged: sealed
// session ids, browser session cookies.
//
// The first key seals; every key opens, chosen by a key id in the sealed
// bytes, so keys rotate: add the new key second, roll it out, move it
// first, and drop the old one once nothing it sealed is still wanted. It
// owns no key storage, no expiry and no encoding beyond bytes: callers
// put those in the plaintext or around the result.
package sealbox
