// e2e-livenessprobe: the e2e cluster's stand-in for kubernetes-csi/livenessprobe, which the Go module
// proxy does not serve (see scripts/build-e2e-tools.sh). Same flags as the chart passes to the real
// one, same job: GET /healthz calls the CSI plugin's Probe and answers 200 when it is ready, 500 when
// the call fails or the plugin says it is not.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "the CSI plugin's socket in this container")
	healthPort := flag.Int("health-port", 9808, "TCP port of /healthz")
	probeTimeout := flag.Duration("probe-timeout", time.Second, "how long one Probe call may take")
	flag.Int("v", 0, "log verbosity (accepted for compatibility)")
	flag.Parse()

	conn, err := grpc.NewClient("unix://"+*csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("connecting to %s: %v", *csiAddress, err)
	}
	identity := csi.NewIdentityClient(conn)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *probeTimeout)
		defer cancel()
		reply, err := identity.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			log.Printf("probe failed: %v", err)
			http.Error(w, fmt.Sprintf("probe failed: %v", err), http.StatusInternalServerError)
			return
		}
		if reply.Ready != nil && !reply.Ready.Value {
			log.Print("plugin is not ready")
			http.Error(w, "plugin is not ready", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	address := fmt.Sprintf(":%d", *healthPort)
	log.Printf("serving /healthz on %s for the CSI plugin on %s", address, *csiAddress)
	log.Fatal(http.ListenAndServe(address, nil))
}
