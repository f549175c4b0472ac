// e2e-node-driver-registrar: the e2e cluster's stand-in for kubernetes-csi/node-driver-registrar,
// which the Go module proxy does not serve (see scripts/build-e2e-tools.sh). Same flags as the chart
// passes to the real one, same job: ask the CSI plugin its name (GetPluginInfo), then serve the
// kubelet's plugin registration API on REGISTRATION_DIR/NAME-reg.sock, which the kubelet's plugin
// watcher finds and calls (GetInfo, then NotifyRegistrationStatus).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registration "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

const pluginInfoTimeout = 10 * time.Second

type registrationServer struct {
	registration.UnimplementedRegistrationServer
	driverName string
	endpoint   string
	registered chan<- error
}

func (s *registrationServer) GetInfo(context.Context, *registration.InfoRequest) (*registration.PluginInfo, error) {
	log.Printf("kubelet asked for the plugin info of %s", s.driverName)
	return &registration.PluginInfo{
		Type:              registration.CSIPlugin,
		Name:              s.driverName,
		Endpoint:          s.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (s *registrationServer) NotifyRegistrationStatus(
	_ context.Context, status *registration.RegistrationStatus,
) (*registration.RegistrationStatusResponse, error) {
	if !status.PluginRegistered {
		s.registered <- fmt.Errorf("kubelet refused the registration of %s: %s", s.driverName, status.Error)
	} else {
		log.Printf("kubelet registered %s", s.driverName)
	}
	return &registration.RegistrationStatusResponse{}, nil
}

func driverName(csiAddress string) (string, error) {
	conn, err := grpc.NewClient("unix://"+csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), pluginInfoTimeout)
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			return info.Name, nil
		}
		log.Printf("waiting for the CSI plugin on %s: %v", csiAddress, err)
		time.Sleep(time.Second)
	}
}

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "the CSI plugin's socket in this container")
	kubeletPath := flag.String("kubelet-registration-path", "", "the CSI plugin's socket on the host")
	registrationDir := flag.String("plugin-registration-path", "/registration", "the kubelet's plugins_registry")
	flag.Int("v", 0, "log verbosity (accepted for compatibility)")
	flag.Parse()
	if *kubeletPath == "" {
		log.Fatal("--kubelet-registration-path is required")
	}

	name, err := driverName(*csiAddress)
	if err != nil {
		log.Fatalf("asking the CSI plugin its name: %v", err)
	}
	socket := filepath.Join(*registrationDir, name+"-reg.sock")
	if err := os.Remove(socket); err != nil && !os.IsNotExist(err) {
		log.Fatalf("removing the stale %s: %v", socket, err)
	}
	listener, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("listening on %s: %v", socket, err)
	}
	refused := make(chan error, 1)
	server := grpc.NewServer()
	registration.RegisterRegistrationServer(server, &registrationServer{
		driverName: name, endpoint: *kubeletPath, registered: refused,
	})
	go func() {
		if err := server.Serve(listener); err != nil {
			refused <- err
		}
	}()
	log.Printf("serving the registration of %s (endpoint %s) on %s", name, *kubeletPath, socket)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-refused:
		os.Remove(socket)
		log.Fatal(err)
	case sig := <-signals:
		log.Printf("stopping on %v", sig)
		server.Stop()
		os.Remove(socket)
	}
}
