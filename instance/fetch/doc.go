// Package fetch gets the files users send: by URL (with an SSRF guard that checks the address
// actually dialed, after DNS and after every redirect), from data URIs, with size caps; what a file
// is (name, media type, kind) is decided by package media. Its guarded HTTP client is also what
// webhooks are delivered with.
package fetch
