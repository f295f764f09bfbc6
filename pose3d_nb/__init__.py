"""pose3d_nb: live 3D human pose estimation (VideoPose3D) inside Jupyter."""

__version__ = "0.1.0"
