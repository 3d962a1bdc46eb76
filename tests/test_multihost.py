"""Two JAX processes (2 CPU devices each) train one run together, as on a pod slice."""

import json
import os
import socket
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = textwrap.dedent("""
    import os, sys
    pid, port, workdir, data_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax
    import numpy as np
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_disable_most_optimizations", True)
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid)
    sys.path.insert(0, {root!r})
    from ganjax import train
    from experiments.configs import gan
    c = gan.get_config()
    c.data_dir, c.hidden, c.latent_dim, c.batch_size = data_dir, (16,), 8, 8
    c.num_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 2, 2, 2
    state = train.train_and_evaluate(c, workdir)
    total = sum(float(np.asarray(x.addressable_shards[0].data).sum())
                for x in jax.tree.leaves(state.generator.params))
    print("RESULT", jax.process_count(), len(jax.devices()), int(state.step), repr(total))
""")


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_train_one_replicated_state_and_write_once(tmp_path):
  script = tmp_path / "worker.py"
  script.write_text(WORKER.replace("{root!r}", repr(ROOT)))
  port, workdir, data_dir = str(_free_port()), str(tmp_path / "w"), str(tmp_path / "data")
  procs = [subprocess.Popen([sys.executable, str(script), str(i), port, workdir, data_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
           for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  results = [next(l for l in out.splitlines() if l.startswith("RESULT")).split()[1:]
             for out, _ in outs]
  assert results[0] == results[1]  # Same params on both hosts.
  assert results[0][:3] == ["2", "4", "4"]  # 2 processes, 4 devices, step 4.
  steps = sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())
  assert steps == [2, 4]
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [2, 4]  # Written once, by process 0.
