module runnel/tests/interop-liiklus

go 1.19

require (
	github.com/projectriff/stream-client-go v0.0.0
	google.golang.org/grpc v1.35.0
)

require (
	github.com/golang/protobuf v1.4.3 // indirect
	github.com/google/uuid v1.1.2 // indirect
	golang.org/x/net v0.0.0-20190311183353-d8887717615a // indirect
	golang.org/x/sys v0.0.0-20190215142949-d0b11bdaac8a // indirect
	golang.org/x/text v0.3.0 // indirect
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013 // indirect
	google.golang.org/protobuf v1.25.0 // indirect
)

// riff's Go liiklus client, vendored from its repository (see third_party/README.md): the Go
// module proxy does not serve it.
replace github.com/projectriff/stream-client-go => ./third_party/stream-client-go
