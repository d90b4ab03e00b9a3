// Package version names Gantry's release and the Kong Gateway version whose
// Admin API and configuration formats it follows.
package version

// Gantry is this build's release.
const Gantry = "0.1.0"

// Kong is the Kong Gateway release whose Admin API, declarative format and
// settings Gantry follows. The Admin API reports it as "version" because
// clients such as decK and go-kong choose formats and features from it.
const Kong = "3.10.0"
