//! The Kubernetes manifests (`deploy/kubernetes/`) and the Grafana dashboard
//! (`deploy/grafana/`): the fields a split run depends on, checked here; every manifest
//! validated offline against Kubernetes' own schemas by PyPI's `kubernetes-validate
//! --strict` (required under CI, which installs it); the kustomization rendered by
//! `kubectl kustomize` where kubectl is installed, and the rendered resources validated too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The container's env var `name`: the key of the ConfigMap it reads.
fn env_from<'a>(container: &'a Value, name: &str) -> &'a Value {
    let env = container["env"].as_array().expect("env");
    let var = env
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"));
    &var["valueFrom"]["configMapKeyRef"]
}

#[test]
fn the_shards_job_is_an_indexed_job_running_each_shard_with_its_volumes() {
    let job = yaml("kubernetes/job.yaml");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert!(spec["completions"].is_u64());
    assert_eq!(spec["completions"], spec["parallelism"]);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"], "stampede",
        "the kustomization sets the image"
    );
    let args = strings(&container["args"]);
    let has = |pair: [&str; 2]| args.windows(2).any(|w| w == pair);
    assert_eq!(args[..2], ["run", "/scenario/scenario.yaml"]);
    assert!(
        args.contains(&"--headless") && args.contains(&"--log-result"),
        "{args:?}"
    );
    assert!(has(["--target", "$(TARGET)"]), "{args:?}");
    assert!(
        has(["--json", "/results/shard-$(JOB_COMPLETION_INDEX).json"]),
        "{args:?}"
    );
    assert!(
        has(["--setup-out", "/results/setup.json"]) && has(["--setup-in", "/results/setup.json"])
    );
    assert!(has(["--metrics-listen", "0.0.0.0:9464"]), "{args:?}");
    for (var, key) in [
        ("STAMPEDE_SHARDS", "shards"),
        ("TARGET", "target"),
        ("STAMPEDE_START_AT", "start_at"),
    ] {
        let from = env_from(container, var);
        assert_eq!(
            (&from["name"], &from["key"]),
            (&"stampede-params".into(), &key.into()),
            "{var}"
        );
    }
    let run_id = &container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "STAMPEDE_RUN_ID");
    let field = run_id.map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"]);
    assert_eq!(
        field.and_then(Value::as_str),
        Some("metadata.labels['batch.kubernetes.io/controller-uid']"),
        "each run of the Job is a run of its own"
    );
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    let mounted = |name: &str, at: &str| {
        mounts
            .iter()
            .any(|m| m["name"] == name && m["mountPath"] == at)
    };
    assert!(
        mounted("scenario", "/scenario") && mounted("results", "/results"),
        "{mounts:?}"
    );
    let volumes = pod["volumes"].as_array().expect("volumes");
    let volume = |name: &str| volumes.iter().find(|v| v["name"] == name).expect("volume");
    assert_eq!(volume("scenario")["configMap"]["name"], "stampede-scenario");
    assert_eq!(
        volume("results")["persistentVolumeClaim"]["claimName"],
        "stampede-results"
    );
    let pvc = yaml("kubernetes/results-pvc.yaml");
    assert_eq!(pvc["metadata"]["name"], "stampede-results");
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"]);

    // The merge reads every shard's result on the same volume.
    let merge = yaml("kubernetes/merge/merge-job.yaml");
    assert_eq!(merge["kind"], "Job");
    let c = &merge["spec"]["template"]["spec"]["containers"][0];
    let line = strings(&c["args"]).join(" ");
    assert!(
        line.contains("stampede merge /results/shard-*.json --json /results/all.json"),
        "{line}"
    );
    let claim = &merge["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"];
    assert_eq!(claim["claimName"], "stampede-results");
}

#[test]
fn the_kustomization_sets_n_the_image_the_target_and_the_start_in_one_place() {
    let k = yaml("kubernetes/kustomization.yaml");
    assert_eq!(k["kind"], "Kustomization");
    assert_eq!(strings(&k["resources"]), ["results-pvc.yaml", "job.yaml"]);
    assert_eq!(k["images"][0]["name"], "stampede");
    let generators = k["configMapGenerator"].as_array().expect("generators");
    let params = generators
        .iter()
        .find(|g| g["name"] == "stampede-params")
        .expect("params");
    let literals = strings(&params["literals"]);
    for key in ["shards=", "target=", "start_at="] {
        assert!(
            literals.iter().any(|l| l.starts_with(key)),
            "{key} in {literals:?}"
        );
    }
    let scenario = generators
        .iter()
        .find(|g| g["name"] == "stampede-scenario")
        .expect("scenario");
    assert_eq!(strings(&scenario["files"]), ["scenario.yaml"]);
    let replaced = &k["replacements"][0];
    assert_eq!(replaced["source"]["fieldPath"], "data.shards");
    assert_eq!(
        strings(&replaced["targets"][0]["fieldPaths"]),
        [
            "spec.completions",
            "spec.parallelism",
            "spec.maxFailedIndexes"
        ]
    );
    // The scenario the ConfigMap carries is one stampede runs.
    let out = common::stampede(
        &[
            "validate",
            deploy("kubernetes/scenario.yaml").to_str().expect("utf-8"),
        ],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kubernetes-validate --strict` on every manifest, and on the kustomization's rendering.
#[test]
fn every_manifest_passes_kubernetes_own_schemas() {
    let python = std::env::var("STAMPEDE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import kubernetes_validate"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        common::skip_without(
            &format!("kubernetes-validate not installed ({python})"),
            "pip install kubernetes-validate, and set STAMPEDE_PYTHON",
        );
        return;
    }
    let validate = |files: &[PathBuf]| {
        let out = Command::new(&python)
            .args(["-m", "kubernetes_validate", "--strict", "-k", "1.33.0"])
            .args(files)
            .output()
            .expect("run kubernetes-validate");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && !text.contains("ERROR"), "{text}");
        text
    };
    let files = [
        "kubernetes/job.yaml",
        "kubernetes/results-pvc.yaml",
        "kubernetes/merge/merge-job.yaml",
    ];
    let text = validate(&files.map(deploy));
    assert_eq!(text.matches("passed").count(), 3, "{text}");

    // The kustomization as kubectl renders it: N replaced, generated names referenced.
    let rendered = Command::new("kubectl")
        .args(["kustomize", deploy("kubernetes").to_str().expect("utf-8")])
        .output();
    let Some(rendered) = rendered.ok().filter(|o| o.status.success()) else {
        // kubectl is not a test dependency (CI does not install it); where it is, this runs.
        eprintln!("note: kubectl not available; the kustomization was checked but not rendered");
        return;
    };
    let text = String::from_utf8_lossy(&rendered.stdout).into_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("rendered.yaml");
    std::fs::write(&all, &text).expect("write");
    let checked = validate(&[all]);
    assert_eq!(checked.matches("passed").count(), 4, "{checked}");
    assert!(
        text.contains("completions: 4") && text.contains("parallelism: 4"),
        "{text}"
    );
    assert!(
        text.contains("image: registry.example.com/stampede:0.1.0"),
        "{text}"
    );
}

/// The dashboard is Grafana's JSON, and every metric it reads is one stampede serves.
#[test]
fn the_grafana_dashboard_reads_the_metrics_stampede_serves() {
    let path = deploy("grafana/stampede.json");
    let text = std::fs::read_to_string(&path).expect("dashboard");
    let dash: Value = serde_json::from_str(&text).expect("JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    let prom = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/prom.rs"))
        .expect("prom.rs");
    let mut exprs = Vec::new();
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(
        exprs.iter().any(|e| e.contains("histogram_quantile(0.99")),
        "{exprs:?}"
    );
    for expr in &exprs {
        for name in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let Some(family) = name.strip_prefix("stampede_") else {
                continue;
            };
            let family = ["_total", "_bucket"]
                .iter()
                .fold(family, |f, suffix| f.strip_suffix(suffix).unwrap_or(f));
            assert!(
                prom.contains(&format!("\"stampede_{family}\"")),
                "stampede_{family} in {expr}"
            );
        }
    }
}
