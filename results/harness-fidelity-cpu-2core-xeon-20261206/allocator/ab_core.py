"""The suite's Keras-on-torch keras_cnn epoch (pipeline_epoch: fit over numpy arrays), timed as the suite times it
(garbage collection off, on a fresh frame stack), outside pytest: ``python ab_core.py LABEL``."""
import os, sys, time, json, statistics
os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.getcwd())  # run from the repository root
def run_probe(label, images=8192, epochs=3):
    from frameworks import data, process_settings
    process_settings.configure_process(2)
    from frameworks.registry import create_adapter
    from frameworks.clock import gc_paused, on_fresh_stack
    mnist = data.load()
    m = create_adapter("keras-torch", "keras_cnn", "cpu", threads=2)
    _, warm = m.pipeline_epoch(mnist, 128 + images % 128)
    _, run = m.pipeline_epoch(mnist, images)
    warm()
    out = []
    def timed():
        with gc_paused():
            for _ in range(epochs):
                t = time.perf_counter(); run(); out.append(images / (time.perf_counter() - t))
    on_fresh_stack(timed)
    print("\nAB", json.dumps({"label": label, "img_s": [round(x) for x in out]}), flush=True)
if __name__ == "__main__":
    run_probe(sys.argv[1])
