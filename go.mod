module github.com/ws4go/ws4go

go 1.26.8

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
