"""Train Health for plain PyTorch loops.

    from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor

    monitor = TrainHealthMonitor(model, optimizer, log_dir="logs/run1",
                                 probe_data=x_train[:256])
    for epoch in range(epochs):
        for xb, yb in loader:
            ...
            optimizer.step()
            monitor.step(loss)
        monitor.epoch_end({"loss": train_loss, "val_loss": val_loss})
    monitor.close()

The same signals, schema and diagnosis as the Keras callback; nothing here
imports TensorFlow or Keras. See `monitor.py`.
"""

from tensorboard_plugin_trainhealth.torch.monitor import TrainHealthMonitor
from tensorboard_plugin_trainhealth.torch.guard import TrainHealthWarning

__all__ = ["TrainHealthMonitor", "TrainHealthWarning"]
