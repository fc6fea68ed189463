// Package fetch gets the files users send: by URL (with an SSRF guard that checks the address
// actually dialed, after DNS and after every redirect), from data URIs, with size caps; it also
// sanitises file names and maps MIME types to WhatsApp media kinds. Its guarded HTTP client is also
// what webhooks are delivered with.
package fetch
