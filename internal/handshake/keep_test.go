package handshake

import (
	"net/http"
	"reflect"
	"testing"
)

// Fields and ParseFields give back the header a request had, every value
// of every field, in order.
func TestFieldsRoundTrip(t *testing.T) {
	h := http.Header{
		"X-Token":         {"t1"},
		"Cookie":          {"a=1", "b=2"},
		"Accept-Language": {"en-US,en;q=0.9"},
		"Empty":           {""},
	}
	f := Fields(h)
	got, err := ParseFields(f)
	if err != nil {
		t.Fatalf("ParseFields(%q): %v", f, err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("round trip: %v, want %v", got, h)
	}
	if n := len(Fields(http.Header{})); n != 2 {
		t.Fatalf("no fields: %d bytes, want the empty line", n)
	}
}

// What a middleware may add and a head cannot carry does not break the
// parse: names that are not tokens are left out, control bytes in values
// become spaces.
func TestFieldsSanitized(t *testing.T) {
	h := http.Header{
		"Bad Name": {"x"},
		"":         {"x"},
		"X-Split":  {"a\r\nInjected: 1"},
		"X-Ok":     {"v"},
	}
	got, err := ParseFields(Fields(h))
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{"X-Split": {"a  Injected: 1"}, "X-Ok": {"v"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// ParseRequest reads a raw head as http.ReadRequest does.
func TestParseRequest(t *testing.T) {
	r, err := ParseRequest("GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-Y: z\r\n\r\n")
	if err != nil || r.URL.Path != "/a" || r.URL.RawQuery != "b=c" || r.Host != "h" || r.Header.Get("X-Y") != "z" {
		t.Fatalf("ParseRequest: %+v, %v", r, err)
	}
}
