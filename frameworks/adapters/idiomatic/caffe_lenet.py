"""Caffe's own MNIST example (BVLC/caffe, examples/mnist: lenet_solver.prototxt and lenet_train_test.prototxt,
trained with ``caffe train --solver``), through pycaffe since this build has no command-line tool: the
solver is loaded from the example's files and stepped one epoch of iterations at a time. The example's
Data layers read the MNIST LMDBs of convert_mnist_data. Imports nothing from the suite."""

import argparse
import json
import math
import resource
import time

import caffe


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--solver", required=True, help="lenet_solver.prototxt (its net reading the LMDBs)")
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=64, help="the example's batch")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    caffe.set_mode_cpu()
    solver = caffe.get_solver(args.solver)
    iterations = math.ceil(args.images / args.batch_size)
    for epoch in range(1, args.epochs + 1):
        faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        solver.step(iterations)
        seconds = time.perf_counter() - start
        print(json.dumps({"epoch": epoch, "seconds": seconds, "images": iterations * args.batch_size,
                          "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}), flush=True)


if __name__ == "__main__":
    main()
