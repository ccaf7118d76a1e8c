// Package config owns the YAML configuration model of mcpgate: the raw
// [Config] data as written by the operator, its defaults, strict loading
// with key-path error messages, and validation.
//
// Loading follows one path: [Load] reads the file, [Parse] decodes it
// with unknown-key, duplicate-key and type detection, fills defaults and
// runs [Config.Validate]. Every problem found is reported at once, as a
// [*ValidationError] listing "key.path: what is wrong: the rule" lines in
// document order.
//
// The package keeps configuration as data. It must not open network
// connections, start servers or hold runtime state; other packages build
// their runtime values from a validated [Config]. The only I/O it does
// besides reading the config file is resolving upstream header values
// from the environment or from files ([Header.Resolve]), which callers
// do at each upstream (re)connect so rotated secrets are picked up.
// Secret header values are never printed or logged by this package.
package config
