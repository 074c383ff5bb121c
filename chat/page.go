package chat

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// Page returns the demo page, a handler for GET requests: a chat client
// (room and name fields, the room's messages and notices, a message box)
// when mode is "chat", and an echo client (what is sent, what comes back)
// otherwise. Its WebSocket connects to wsPath on the page's own host, so the
// page must be served by the same server as the endpoint (the browser's
// Origin then passes the server's check). For chat, the page's query
// parameters "room" and "name" fill in the fields.
func Page(wsPath, mode string) http.Handler {
	if mode != "chat" {
		mode = "echo"
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, struct{ WSPath, Mode string }{wsPath, mode}); err != nil {
		panic(err) // the template is fixed and its data are strings
	}
	page := b.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}
