"""Keras' mnist_cnn example (keras-team/keras, examples/mnist_cnn.py, the network the seed article used),
in Keras 3's API: numpy arrays scaled by 1/255, one-hot labels, the same Sequential model, categorical
cross-entropy with Adadelta (learning rate 1.0, Keras 2's default), accuracy as a metric, ``fit`` with batch
128. The example validates on the test set after each epoch; that is left out here, so that an epoch is
training only, as in the suite. Any Keras backend (KERAS_BACKEND). Imports nothing from the suite."""

import argparse
import gzip
import json
import os
import resource
import time

import numpy as np


def read(directory, name):
    path = os.path.join(directory, name)
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def load_mnist(directory):
    """What keras.datasets.mnist.load_data() returns for the training set, read from the original files."""
    x = np.frombuffer(read(directory, "train-images-idx3-ubyte"), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(read(directory, "train-labels-idx1-ubyte"), np.uint8, offset=8)
    return x, y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="directory holding the MNIST .gz files")
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    import keras
    from keras import layers

    x_train, y_train = load_mnist(args.data)
    x_train, y_train = x_train[:args.images], y_train[:args.images]
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    y_train = keras.utils.to_categorical(y_train, 10)

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
                  metrics=["accuracy"])

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.faults, self.start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.start
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.faults
            print(json.dumps({"epoch": epoch + 1, "seconds": seconds, "images": len(x_train), "page_faults": faults}),
                  flush=True)

    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[EpochTimer()])


if __name__ == "__main__":
    main()
