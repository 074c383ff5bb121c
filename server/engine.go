package server

func (s *Server) newEngine() engine {
	switch s.Engine {
	case EngineNetpoll:
		panic("ws4go: the netpoll engine is not built yet")
	}
	return goroutineEngine{s}
}
