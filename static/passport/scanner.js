// The buyer's scanner: the phone camera through the native BarcodeDetector, else the vendored
// qr-scanner; the typed-code form always works. Texts are rendered by the server (translated);
// this script only shows and hides them.
(function () {
  "use strict";
  const root = document.querySelector("[data-testid=scanner]");
  if (!root) {
    return;
  }
  const form = root.querySelector("form");
  const input = form.querySelector("input[name=code]");
  const startButton = root.querySelector("[data-start-camera]");
  const cameraBox = root.querySelector(".camera");
  const video = cameraBox.querySelector("video");
  const unavailable = root.querySelector(".camera-unavailable");

  // A scanned label opens its passport here; a label from elsewhere is looked up here by its code,
  // never followed to a foreign site.
  function open(text) {
    const value = String(text || "").trim();
    try {
      const url = new URL(value);
      if (url.origin === window.location.origin) {
        window.location.assign(url.href);
        return;
      }
      const page = url.pathname.match(/\/p\/([^/]+)\/?$/);
      input.value = page ? decodeURIComponent(page[1]) : url.pathname;
    } catch (notUrl) {
      input.value = value;
    }
    form.submit();
  }

  function cameraFailed() {
    cameraBox.hidden = true;
    unavailable.hidden = false;
  }

  async function nativeScan() {
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    await video.play();
    const look = async () => {
      try {
        const found = await detector.detect(video);
        if (found.length > 0) {
          stream.getTracks().forEach((track) => track.stop());
          open(found[0].rawValue);
          return;
        }
      } catch (notReady) {
        // The first frames may not be decodable yet; keep looking.
      }
      window.setTimeout(look, 150);
    };
    look();
  }

  function libraryScan() {
    if (!window.QrScanner) {
      cameraFailed();
      return;
    }
    const scanner = new window.QrScanner(
      video,
      (result) => {
        scanner.stop();
        open(result.data);
      },
      { returnDetailedScanResult: true, preferredCamera: "environment" },
    );
    scanner.start().catch(cameraFailed);
  }

  async function start() {
    startButton.hidden = true;
    cameraBox.hidden = false;
    try {
      if ("BarcodeDetector" in window) {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) {
          await nativeScan();
          return;
        }
      }
      libraryScan();
    } catch (noCamera) {
      cameraFailed();
    }
  }

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    startButton.hidden = false;
    startButton.addEventListener("click", start);
  } else {
    unavailable.hidden = false;
  }
})();
