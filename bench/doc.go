// Package bench holds Gantry's benchmarks of whole features — reading a
// large declarative config, hashing it — at the sizes real deployments
// reach, so that a change that slows them shows up in numbers. The
// package has no code of its own: run it with
//
//	go test -run x -bench . -benchmem ./bench/
package bench
