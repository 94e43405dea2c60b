"""Train Health for TensorBoard: diagnose Keras 3 trainings in a TensorBoard tab.

    from tensorboard_plugin_trainhealth import TrainHealthCallback
    model.fit(x, y, validation_data=(xv, yv), epochs=20,
              callbacks=[TrainHealthCallback("logs/run1")])

then `tensorboard --logdir logs` and open the "Train Health" tab.
"""

__version__ = "0.1.0"

__all__ = ["TrainHealthCallback", "__version__"]


def __getattr__(name):
    # TensorBoard imports this package to load the plugin; importing Keras
    # (and with it a backend) only when the callback is asked for keeps
    # TensorBoard's start-up free of it.
    if name == "TrainHealthCallback":
        from tensorboard_plugin_trainhealth.callback import TrainHealthCallback

        return TrainHealthCallback
    raise AttributeError(name)
