"""convlab: the library behind the scripts at the top of the project.

The scripts (train.py, visualize.py, predict.py, export.py) and the lesson's models
(model.py) live at the top; everything they share lives here, one job per module:

- data: the Fashion-MNIST files, their checks, the validation split, the tf.data pipeline
- runs, files: where runs go and what a run folder holds; files written whole or not at all
- saved_models: finding and loading a model that train.py saved
- recipe, report: training one model; evaluating and comparing the trained models
- cluster: one process, or several devices and machines (tf.distribute)
- hardware: the device, the numeric precision, and a float32 copy of a mixed-precision model
- feature_maps, figures, convolution, preprocess, explorer_page, tensorboard_logging: what
  the network sees, drawn, computed by hand, prepared from a photo, in a page, in TensorBoard
- tensorflow_startup: TensorFlow without its start-up notices
"""
