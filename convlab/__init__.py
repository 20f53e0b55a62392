"""convlab: the library behind the scripts at the top of the project.

The scripts (train.py, visualize.py, predict.py, export.py) and the lesson's models
(model.py) live at the top; everything they share lives here, one job per module
(docs/layout.md):

- data: the Fashion-MNIST files, their checks, the validation split, the tf.data pipelines
- recipe, callbacks, snapshots: how a model trains; what watches its fit(); its weights at every epoch
- report, comparison, learning: evaluating and comparing the trained models; replaying their epochs
- runs, files, cli: where runs go and what a run folder holds; files written whole; the scripts' flags
- saved_models: finding and loading a model that train.py saved
- cluster, hardware: one process or several devices and machines; the device and the precision
- feature_maps, figures, convolution, preprocess, explorer_page, tensorboard_logging, unsure: what
  the network sees, drawn, computed by hand, prepared from a photo, in a page, in TensorBoard; when
  predict.py is unsure
- tensorflow_startup: TensorFlow without its start-up notices
"""
